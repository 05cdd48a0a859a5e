//! The live progress line: drawn on a terminal (a pseudo-terminal made by
//! `script`), absent from piped output.

use crate::util::*;

/// A run of 30 tracks at 20 requests per second (about 1.5 s), as a shell
/// command line, with its plugins folder.
fn slow_run(server: &TestServer) -> (PluginDir, Vec<String>) {
    let track = std::fs::read(root().join("plugins/music-sync/samples/tracks/1001.json"))
        .expect("sample track");
    for i in 0..30 {
        server.add_track(&i.to_string(), &track);
    }
    let plugins = PluginDir::with(&["music-sync"]);
    let mut args: Vec<String> = [
        "run",
        "--plugin",
        "music-sync",
        "--host-rate",
        "20",
        "--plugins",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.push(plugins.path().display().to_string());
    args.extend((0..30).map(|i| server.url(&format!("/tracks/{i}"))));
    (plugins, args)
}

#[test]
fn a_terminal_gets_a_live_line_and_a_pipe_gets_none() {
    let server = TestServer::start();
    let (_plugins, args) = slow_run(&server);
    let binary = jobhost().get_program().to_owned();
    let line = std::iter::once(binary.to_string_lossy().into_owned())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    // `script` runs the command on a pseudo-terminal and copies what it
    // drew to its own stdout.
    let on_terminal = run(std::process::Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("TERM", "xterm"));
    assert_eq!(on_terminal.code, 0, "{on_terminal:?}");
    let drawn = &on_terminal.stdout;
    assert!(drawn.contains("/30 done, 0 retried, 0 dead"), "{drawn}");
    assert!(drawn.contains("/s"), "a rate: {drawn}");
    assert!(drawn.contains("done 30, retried 0, dead 0"), "{drawn}");

    let piped = run(jobhost().args(&args));
    assert_eq!(piped.code, 0, "{piped:?}");
    assert_eq!(piped.records().len(), 30);
    for text in [&piped.stdout, &piped.stderr] {
        assert!(
            !text.contains('\r') && !text.contains('\u{1b}'),
            "{piped:?}"
        );
        assert!(!text.contains("/30 done"), "{piped:?}");
    }
    // --no-progress keeps a terminal clean too.
    let quiet = run(std::process::Command::new("script")
        .args(["-qfec", &format!("{line} --no-progress"), "/dev/null"])
        .env("TERM", "xterm"));
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(!quiet.stdout.contains("/30 done"), "{quiet:?}");
}
