//! placeholder: the sans-IO device server dispatcher (being written).
