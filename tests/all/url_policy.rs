//! The fetcher's URL policy: cloud metadata denied by default, private
//! ranges and host lists on request, checked after DNS and at redirects.

use crate::util::*;

fn dead_run(server_task: &str, extra: &[&str]) -> Run {
    let plugins = PluginDir::with(&["template"]);
    let run = run(jobhost()
        .args([
            "run",
            "--plugin",
            "template",
            "--max-attempts",
            "3",
            "--retry-delay",
            "10ms",
            "--plugins",
        ])
        .arg(plugins.path())
        .arg(server_task)
        .args(extra));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("retried 0, dead 1"),
        "a denial is permanent: {run:?}"
    );
    run
}

#[test]
fn cloud_metadata_is_denied_by_default_even_through_a_redirect() {
    let run = dead_run("http://169.254.169.254/latest/meta-data/", &[]);
    assert!(
        run.stderr
            .contains("cloud metadata or link-local address, denied by default"),
        "{run:?}"
    );
    let server = TestServer::start();
    let run = dead_run(&server.url("/redirect-to-metadata"), &[]);
    assert!(run.stderr.contains("169.254.169.254"), "{run:?}");
    assert!(run.stderr.contains("denied by default"), "{run:?}");
}

#[test]
fn private_addresses_are_denied_on_request_including_names_that_resolve_to_them() {
    let server = TestServer::start();
    let literal = server.url("/chaos/a");
    let run = dead_run(&literal, &["--deny-private"]);
    assert!(
        run.stderr
            .contains("address 127.0.0.1 is private or loopback, denied by --deny-private"),
        "{run:?}"
    );
    let by_name = format!("http://localhost:{}/chaos/b", server.addr.port());
    let run = dead_run(&by_name, &["--deny-private"]);
    assert!(
        run.stderr
            .contains("localhost resolves to a denied address"),
        "{run:?}"
    );
    assert_eq!(server.hits("/chaos/a") + server.hits("/chaos/b"), 0);
}

#[test]
fn host_allow_and_deny_lists() {
    let server = TestServer::start();
    let url = server.url("/chaos/c");
    let run = dead_run(&url, &["--allow-host", "api.example.com,*.example.org"]);
    assert!(
        run.stderr
            .contains("host 127.0.0.1 is not on the allow list (--allow-host)"),
        "{run:?}"
    );
    let run = dead_run(&url, &["--deny-host", "127.0.0.1"]);
    assert!(
        run.stderr.contains("is on the deny list (--deny-host)"),
        "{run:?}"
    );
    let plugins = PluginDir::with(&["template"]);
    let allowed = crate::util::run(
        jobhost()
            .args([
                "run",
                "--plugin",
                "template",
                "--allow-host",
                "127.0.0.1",
                "--plugins",
            ])
            .arg(plugins.path())
            .arg(&url),
    );
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert_eq!(server.hits("/chaos/c"), 1);
}
