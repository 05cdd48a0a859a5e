//! links, a small same-site crawler: for an HTML page it records the page's
//! URL, title and number of links, and enqueues one follow-up task per
//! same-origin link. This file owns the glue between the WIT bindings and the
//! pure modules.
//!
//! Modules:
//! - `html`: the forgiving scanner that finds the title and `<a href>`s.
//! - `resolve`: resolution, the same-origin filter and de-duplication.
//!
//! The plugin de-duplicates links within one page only; avoiding re-crawling
//! pages across jobs is up to the producer or the host.

mod html;
mod resolve;

wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

use jobhost::plugin::log::{self, Level};
use jobhost::plugin::types::{FollowUp, SinkRecord};
use serde::Serialize;
use url::Url;

struct Links;

/// The record written for each page; field order is the JSON key order.
#[derive(Serialize)]
struct PageRecord<'a> {
    url: &'a str,
    title: Option<String>,
    links: usize,
}

impl Guest for Links {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "links".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Records an HTML page's title and follows its same-site links".to_string(),
            url_patterns: Vec::new(),
            content_types: vec!["text/html".to_string()],
            limits: None,
        }
    }

    fn handle(_task: Task, content: Content) -> Result<Outcome, HandleError> {
        let page_url = content.final_url;
        if !(200..=299).contains(&content.status) {
            return Err(HandleError::Fail(format!(
                "HTTP status {} at {page_url}",
                content.status
            )));
        }
        let page = Url::parse(&page_url).map_err(|error| {
            HandleError::Fail(format!(
                "content.final-url `{page_url}` is not a valid URL: {error}"
            ))
        })?;

        // Pages in other encodings lose their non-ASCII characters here,
        // which does not affect the ASCII markup the scanner looks for.
        let scan = html::scan(&String::from_utf8_lossy(&content.body));
        let links = resolve::same_origin_links(&page, &scan.hrefs);
        log::log(
            Level::Debug,
            &format!(
                "{} hrefs, {} same-origin links at {page_url}",
                scan.hrefs.len(),
                links.len()
            ),
        );

        let record = PageRecord {
            url: &page_url,
            title: scan.title,
            links: links.len(),
        };
        let data = serde_json::to_vec(&record).map_err(|error| {
            HandleError::Fail(format!("cannot encode the page record: {error}"))
        })?;
        let follow_ups = links
            .into_iter()
            .map(|url| FollowUp {
                url,
                plugin: None,
                metadata: vec![("parent".to_string(), page_url.clone())],
            })
            .collect();
        Ok(Outcome {
            records: vec![SinkRecord {
                content_type: "application/json".to_string(),
                data,
            }],
            follow_ups,
        })
    }
}

export!(Links);
