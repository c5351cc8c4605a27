//! The cppTango device-server command line:
//! `<exec> <instance> -nodb -dlist a/b/c[,d/e/f] -ORBendPoint giop:tcp:<host>:<port> [-v[N]] [-h]`,
//! options after the instance name in any order.

use std::fmt;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// The instance name (`test` in `TangoTest test`).
    pub instance: String,
    /// No Tango database (`-nodb`). Required for now.
    pub nodb: bool,
    /// Devices to create (`-dlist`), optionally prefixed `Class::`.
    pub devices: Vec<String>,
    /// Host to listen on (`-ORBendPoint giop:tcp:HOST:PORT`; default all interfaces).
    pub host: String,
    /// Port to listen on (0: a free one).
    pub port: u16,
    /// Verbosity (`-v` is 4, `-vN` is N; 0 when absent): 1 and up logs connections to
    /// stderr, 4 and up every request.
    pub verbosity: u8,
    /// Options after the known ones, `--green-mode` and the like, for the caller.
    pub extra: Vec<(String, Option<String>)>,
}

/// `-h`, or a command line that cannot be used: the message says which and shows the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `-h` was given: print the usage and exit successfully.
    Help(String),
    /// Something is wrong.
    Invalid(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help(u) => f.write_str(u),
            ArgsError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ArgsError {}

/// The usage text for `exec`.
pub fn usage(exec: &str) -> String {
    format!(
        "usage: {exec} <instance> -nodb -dlist <domain/family/member>[,...] \
         [-ORBendPoint giop:tcp:<host>:<port>] [-v[N]] [--green-mode MODE] [-h]\n\
         Runs the device server {exec}/<instance> without a Tango database; clients reach \
         each device as tango://<host>:<port>/<domain/family/member>#dbase=no.\n\
         Port 0 (the default) binds a free port; the bound endpoint is printed at start."
    )
}

impl ServerArgs {
    /// Parses the arguments after the executable name. Options the caller knows
    /// (`extra_with_value`, such as `--green-mode`) are collected into `extra`.
    pub fn parse(
        exec: &str,
        args: &[String],
        extra_with_value: &[&str],
    ) -> Result<Self, ArgsError> {
        let invalid = |m: String| ArgsError::Invalid(format!("{m}\n{}", usage(exec)));
        let mut out = ServerArgs {
            instance: String::new(),
            nodb: false,
            devices: Vec::new(),
            host: "0.0.0.0".to_owned(),
            port: 0,
            verbosity: 0,
            extra: Vec::new(),
        };
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-h" | "-help" | "--help" | "-?" => return Err(ArgsError::Help(usage(exec))),
                "-nodb" => out.nodb = true,
                "-dlist" => {
                    let list = it
                        .next()
                        .ok_or_else(|| invalid("-dlist needs a list of device names".into()))?;
                    out.devices.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                }
                "-ORBendPoint" => {
                    let ep = it.next().ok_or_else(|| {
                        invalid("-ORBendPoint needs giop:tcp:<host>:<port>".into())
                    })?;
                    let (host, port) = parse_endpoint(ep).map_err(invalid)?;
                    out.host = host;
                    out.port = port;
                }
                v if v.starts_with("-v") && v[2..].chars().all(|c| c.is_ascii_digit()) => {
                    out.verbosity = if v.len() == 2 {
                        4
                    } else {
                        v[2..].parse().unwrap_or(4)
                    };
                }
                o if extra_with_value.contains(&o) => {
                    let v = it
                        .next()
                        .ok_or_else(|| invalid(format!("{o} needs a value")))?;
                    out.extra.push((o.to_owned(), Some(v.clone())));
                }
                o if o.starts_with('-') => {
                    if let Some((k, v)) = o.split_once('=') {
                        if extra_with_value.contains(&k) {
                            out.extra.push((k.to_owned(), Some(v.to_owned())));
                            continue;
                        }
                    }
                    // omniORB options we do not need take a value: skip it as cppTango does.
                    if o.starts_with("-ORB") {
                        it.next();
                        continue;
                    }
                    return Err(invalid(format!("unknown option {o}")));
                }
                name if out.instance.is_empty() => out.instance = name.to_owned(),
                other => return Err(invalid(format!("unexpected argument {other:?}"))),
            }
        }
        if out.instance.is_empty() {
            return Err(invalid("missing the instance name".into()));
        }
        if !out.nodb {
            return Err(invalid(
                "the Tango database is not supported yet: run with -nodb -dlist <devices>".into(),
            ));
        }
        if out.devices.is_empty() {
            return Err(invalid(
                "-nodb needs -dlist <domain/family/member>[,...]".into(),
            ));
        }
        for d in &out.devices {
            let name = d.rsplit("::").next().unwrap_or(d);
            if name.split('/').count() != 3 || name.split('/').any(str::is_empty) {
                return Err(invalid(format!(
                    "{d:?} is not a device name (domain/family/member)"
                )));
            }
        }
        Ok(out)
    }
}

/// `giop:tcp:<host>:<port>` (host may be empty or `[v6]`).
fn parse_endpoint(ep: &str) -> Result<(String, u16), String> {
    let rest = ep
        .strip_prefix("giop:tcp:")
        .ok_or_else(|| format!("endpoint {ep:?} is not giop:tcp:<host>:<port>"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("endpoint {ep:?} has no port"))?;
    let port = if port.is_empty() {
        0
    } else {
        port.parse()
            .map_err(|_| format!("endpoint {ep:?}: port {port:?} is not a number"))?
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn cpptango_command_line_in_any_order() {
        let a = ServerArgs::parse(
            "TangoTest",
            &args("test -ORBendPoint giop:tcp:127.0.0.1:0 -v2 -dlist sys/tg_test/1,sys/tg_test/2 -nodb --green-mode tokio"),
            &["--green-mode"],
        )
        .unwrap();
        assert_eq!(a.instance, "test");
        assert_eq!(a.devices, ["sys/tg_test/1", "sys/tg_test/2"]);
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 0));
        assert_eq!(a.verbosity, 2);
        assert_eq!(
            a.extra,
            [("--green-mode".to_owned(), Some("tokio".to_owned()))]
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = ServerArgs::parse("X", &args("test -dlist a/b/c"), &[]).unwrap_err();
        assert!(e.to_string().contains("-nodb"), "{e}");
        let e = ServerArgs::parse("X", &args("test -nodb -dlist a/b"), &[]).unwrap_err();
        assert!(e.to_string().contains("not a device name"), "{e}");
        let e = ServerArgs::parse("X", &args("-nodb -dlist a/b/c"), &[]).unwrap_err();
        assert!(e.to_string().contains("instance"), "{e}");
        assert!(matches!(
            ServerArgs::parse("X", &args("-h"), &[]),
            Err(ArgsError::Help(_))
        ));
        let e = ServerArgs::parse("X", &args("t -nodb -dlist a/b/c -ORBendPoint tcp:1"), &[]);
        assert!(e.is_err());
    }
}
