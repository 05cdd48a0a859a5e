//! Turning the raw `href`s of a page into the follow-up URLs: resolution
//! against the page URL, the same-origin filter, fragment removal and
//! de-duplication. Pure code, no bindings.

use std::collections::BTreeSet;
use url::Url;

/// The absolute URLs to follow from `page`, in first-seen order: each href
/// resolved against `page`, kept only if it is http(s) with the same scheme,
/// host and port as `page` (which drops `mailto:`, `javascript:` and other
/// sites), without its fragment, each URL once.
pub fn same_origin_links(page: &Url, hrefs: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut links = Vec::new();
    for href in hrefs {
        let Ok(mut link) = page.join(href) else {
            continue;
        };
        if !matches!(link.scheme(), "http" | "https")
            || link.scheme() != page.scheme()
            || link.host_str() != page.host_str()
            || link.port_or_known_default() != page.port_or_known_default()
        {
            continue;
        }
        link.set_fragment(None);
        let link = String::from(link);
        if seen.insert(link.clone()) {
            links.push(link);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(page: &str, hrefs: &[&str]) -> Vec<String> {
        let page = Url::parse(page).expect("test page URL");
        let hrefs: Vec<String> = hrefs.iter().map(|href| href.to_string()).collect();
        same_origin_links(&page, &hrefs)
    }

    #[test]
    fn resolves_filters_and_dedups_in_order() {
        assert_eq!(
            links(
                "https://example.com/docs/index.html#top",
                &[
                    "b.html",
                    "/root",
                    "../up#section",
                    "https://EXAMPLE.com:443/root#again",
                    "http://example.com/other-scheme",
                    "https://example.com:8443/other-port",
                    "https://sub.example.com/other-host",
                    "//example.com/protocol-relative",
                    "mailto:someone@example.com",
                    "javascript:void(0)",
                    "ftp://example.com/file",
                    "b.html",
                    "?q=1",
                    "#only-fragment",
                    "",
                    "http://[bad",
                ]
            ),
            [
                "https://example.com/docs/b.html",
                "https://example.com/root",
                "https://example.com/up",
                "https://example.com/protocol-relative",
                "https://example.com/docs/index.html?q=1",
                "https://example.com/docs/index.html",
            ]
        );
    }

    #[test]
    fn non_default_ports_must_match() {
        assert_eq!(
            links(
                "http://localhost:8080/",
                &["/a", "http://localhost/b", "http://localhost:8080/c"]
            ),
            ["http://localhost:8080/a", "http://localhost:8080/c"]
        );
    }
}
