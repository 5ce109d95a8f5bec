//! The host names the service answers to: loopback names, the address it listens on (when
//! it is one address) and the host of `[server] public_url`. A request naming another host
//! (`Host`, or the authority of an HTTP/2 request) is refused, token or not: a web page
//! whose own name resolves to this machine (DNS rebinding) must not be able to read runs or
//! change playbooks through the operator's browser.

use std::net::IpAddr;

/// Listening on every address without `public_url`: no host name to answer to.
#[derive(Debug, thiserror::Error)]
#[error(
    "listening on every address ({listen}) needs `public_url` in [server]: the URL clients \
     reach alertsync at, whose host is the only name (with loopback) alertsync answers to"
)]
pub struct PublicUrlNeeded {
    listen: String,
}

/// The accepted host names, lower case, without ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    names: Vec<String>,
}

impl AllowedHosts {
    /// The names for a service listening on `listen` (`host:port`) and reached at
    /// `public_url`. Listening on every address (`0.0.0.0`, `::`) needs a public URL: its
    /// host is the name clients use.
    pub fn new(listen: &str, public_url: Option<&str>) -> Result<Self, PublicUrlNeeded> {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let listen_host = host_of(listen);
        let unspecified = listen_host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if !unspecified && !listen_host.is_empty() {
            names.push(listen_host.to_ascii_lowercase());
        }
        match public_url.and_then(|url| url::Url::parse(url).ok()) {
            Some(url) => {
                if let Some(host) = url.host_str() {
                    names.push(host.trim_matches(['[', ']']).to_ascii_lowercase());
                }
            }
            None if unspecified => {
                return Err(PublicUrlNeeded {
                    listen: listen.to_owned(),
                });
            }
            None => {}
        }
        names.dedup();
        Ok(Self { names })
    }

    /// Whether a request naming `authority` (`host[:port]`) may be answered. A request
    /// naming no host (HTTP/1.0) is not a browser's, and is.
    pub fn allows(&self, authority: Option<&str>) -> bool {
        authority.is_none_or(|authority| {
            let host = host_of(authority).to_ascii_lowercase();
            self.names.contains(&host)
        })
    }

    /// The names, for messages.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The host of `host[:port]`, `[v6]:port` or `[v6]`, without brackets.
fn host_of(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_the_public_host_are_answered() {
        let hosts = AllowedHosts::new("127.0.0.1:8080", Some("https://alerts.example.com/"))
            .expect("valid");
        for ok in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "alerts.example.com",
            "ALERTS.example.com:443",
        ] {
            assert!(hosts.allows(Some(ok)), "{ok}");
        }
        assert!(hosts.allows(None));
        for refused in [
            "evil.example.net",
            "evil.example.net:8080",
            "127.0.0.1.evil.net",
        ] {
            assert!(!hosts.allows(Some(refused)), "{refused}");
        }
    }

    #[test]
    fn a_specific_listen_address_is_a_name_too_and_every_address_needs_a_public_url() {
        let hosts = AllowedHosts::new("10.0.0.5:8080", None).expect("valid");
        assert!(hosts.allows(Some("10.0.0.5:8080")));
        let err = AllowedHosts::new("0.0.0.0:8080", None).expect_err("needs a public URL");
        assert!(err.to_string().contains("public_url"), "{err}");
        assert!(AllowedHosts::new("[::]:8080", Some("http://10.1.2.3:8080")).is_ok());
    }
}
