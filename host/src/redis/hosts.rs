//! URLs that name several hosts (`redis+sentinel://`, `redis+cluster://`):
//! their parts, and the addresses in them.

/// The parts of `redis+KIND://[USERINFO@]HOST[:PORT][,HOST[:PORT]…][/PATH]`.
pub struct MultiHost<'u> {
    /// `rediss+KIND://`: TLS.
    pub tls: bool,
    /// The user info as written (still percent-encoded).
    pub userinfo: Option<&'u str>,
    /// The addresses, in order.
    pub hosts: Vec<(String, u16)>,
    /// What follows the first `/` after the hosts.
    pub path: &'u str,
}

/// Split `url`, which must start `redis+KIND://` or `rediss+KIND://`;
/// an address without a port gets `default_port` (or is refused without
/// one). `form` says how the URL is written, for the messages, which never
/// hold the password.
pub fn split<'u>(
    url: &'u str,
    kind: &str,
    default_port: Option<u16>,
    form: &str,
) -> Result<MultiHost<'u>, String> {
    let after = |scheme: &str| {
        url.strip_prefix(scheme)?
            .strip_prefix(kind)?
            .strip_prefix("://")
    };
    let (tls, rest) = match (after("redis+"), after("rediss+")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(format!("not a redis+{kind}:// URL; {form}")),
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "a redis+{kind}:// URL takes no query or fragment; {form}"
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let hosts = hosts
        .split(',')
        .map(|host| host_port(host, default_port, form))
        .collect::<Result<_, _>>()?;
    Ok(MultiHost {
        tls,
        userinfo,
        hosts,
        path,
    })
}

/// `HOST[:PORT]` or `[V6][:PORT]`.
fn host_port(host: &str, default_port: Option<u16>, form: &str) -> Result<(String, u16), String> {
    if host.is_empty() {
        return Err(format!("an address is empty; {form}"));
    }
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (name, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{host}` lacks its closing `]`; {form}"))?;
        (name, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port = match (port, default_port) {
        (Some(port), _) => port
            .parse()
            .map_err(|_| format!("`{host}` has no valid port; {form}"))?,
        (None, Some(port)) => port,
        (None, None) => return Err(format!("`{host}` has no port; {form}")),
    };
    Ok((name.to_owned(), port))
}
