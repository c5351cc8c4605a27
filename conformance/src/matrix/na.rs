//! The reviewed list of cases a server cannot support: each entry names the server family
//! (or one column), the case, and why. A listed case is not run against that server and
//! counts as not applicable. Nothing else is ever marked not applicable: a case that fails
//! is a failure, whatever the server.
//!
//! Every entry is a documented peer limitation (docs/architecture.md, "Peer quirks";
//! peers/README.md), never a bug of ours. Keep the list short and each reason precise.
//!
//! The PyTango client suite (`peers/pytango_client_suite.py`) keeps its own table for its
//! own cases (`NOT_APPLICABLE` at its top); [`PYTANGO_SUITE`] mirrors it, and a PyTango
//! client cell fails if the suite reports a case not applicable that is not listed there
//! (e.g. a case it skipped at run time).

use super::server::{Family, Server};

/// Which servers an entry covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every column of one implementation.
    Family(Family),
    /// One column.
    Column(Server),
}

impl Scope {
    /// True if the entry covers `server`.
    pub fn covers(self, server: Server) -> bool {
        match self {
            Scope::Family(f) => server.family() == f,
            Scope::Column(c) => server == c,
        }
    }
}

/// One reviewed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotApplicable {
    /// The servers.
    pub scope: Scope,
    /// The case name (see [`super::cases::CASES`]).
    pub case: &'static str,
    /// Why the server cannot support it.
    pub reason: &'static str,
}

const CPP: Scope = Scope::Family(Family::Cpp);
const PY: Scope = Scope::Family(Family::PyTango);

const CPP_IMAGE_CRASH: &str =
    "Debian's C++ TangoTest 9.3.4 dies when this image attribute is written \
     (most shapes; PyTango's client crashes it the same way)";
const NEWER: &str = "TangoTest 9.3.4's interface (which this peer implements) has no \
     enum_*, freq, echo_mode or long_scalar_ts_* attributes";
const CACHE: &str =
    "cppTango in no-database mode (9.3.4 and the 10.x under PyTango) answers every \
     DevSource::Cache read with API_NotUpdatedAnyMore, even right after a poll";

/// The reviewed list for our client's cases.
pub static CASES: &[NotApplicable] = &[
    NotApplicable {
        scope: CPP,
        case: "write:image:double",
        reason: CPP_IMAGE_CRASH,
    },
    NotApplicable {
        scope: CPP,
        case: "write:image:long",
        reason: CPP_IMAGE_CRASH,
    },
    NotApplicable {
        scope: CPP,
        case: "write:image:string",
        reason: CPP_IMAGE_CRASH,
    },
    NotApplicable {
        scope: CPP,
        case: "write:image:ushort",
        reason: CPP_IMAGE_CRASH,
    },
    NotApplicable {
        scope: CPP,
        case: "info:version_info",
        reason: "DevInfo_6.version_info is IDL 6; cppTango 9.3.4 is IDL 5 (info_3)",
    },
    NotApplicable {
        scope: CPP,
        case: "config:set",
        reason: "cppTango 9.3.4 without a database dies on any set_attribute_config that \
                 changes a property (it stores the change through the database it does not \
                 have; PyTango's client kills it the same way)",
    },
    NotApplicable {
        scope: CPP,
        case: "polling:cache_read",
        reason: CACHE,
    },
    NotApplicable {
        scope: PY,
        case: "polling:cache_read",
        reason: CACHE,
    },
    NotApplicable {
        scope: CPP,
        case: "read:newer_attributes",
        reason: NEWER,
    },
    NotApplicable {
        scope: PY,
        case: "read:newer_attributes",
        reason: NEWER,
    },
    NotApplicable {
        scope: CPP,
        case: "write:enum",
        reason: NEWER,
    },
    NotApplicable {
        scope: PY,
        case: "write:enum",
        reason: NEWER,
    },
    NotApplicable {
        scope: PY,
        case: "query:read_with_write",
        reason: "PyTango 10.3.1 cannot declare READ_WITH_WRITE attributes (no way to name \
                 the associated writable attribute): the peer's *_rww are READ_WRITE",
    },
];

/// Why `case` is not applicable to `server`, if it is listed.
pub fn not_applicable(server: Server, case: &str) -> Option<&'static str> {
    CASES
        .iter()
        .find(|n| n.case == case && n.scope.covers(server))
        .map(|n| n.reason)
}

/// The cases `peers/pytango_client_suite.py` itself lists as not applicable per server
/// family (its `NOT_APPLICABLE` table, mirrored; the reasons are the suite's).
pub static PYTANGO_SUITE: &[(Family, &str)] = &[
    (Family::Cpp, "write:double_image"),
    (Family::Cpp, "write:long_image"),
    (Family::Cpp, "write:string_image"),
    (Family::Cpp, "write:ushort_image"),
    (Family::Cpp, "set_attribute_config"),
    (Family::Cpp, "newer_attributes"),
    (Family::PyTango, "newer_attributes"),
];

/// True if the PyTango client suite's `case` is reviewed as not applicable to `family`.
pub fn pytango_suite_not_applicable(family: Family, case: &str) -> bool {
    PYTANGO_SUITE.iter().any(|&(f, c)| f == family && c == case)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::cases;

    #[test]
    fn every_entry_names_a_case_and_no_case_is_listed_for_ours() {
        for n in CASES {
            assert!(cases::find(n.case).is_some(), "unknown case {}", n.case);
            assert!(n.reason.len() > 20, "{}: say why", n.case);
            for s in Server::OURS {
                assert!(!n.scope.covers(s), "{} is N/A for our server {s}", n.case);
            }
        }
        assert!(not_applicable(Server::CppTangoTest, "write:image:double").is_some());
        assert!(not_applicable(Server::PyTangoTest, "write:image:double").is_none());
        assert!(not_applicable(Server::RustTokio, "write:enum").is_none());
        assert!(pytango_suite_not_applicable(
            Family::Cpp,
            "set_attribute_config"
        ));
        assert!(!pytango_suite_not_applicable(
            Family::Rust,
            "set_attribute_config"
        ));
    }
}
