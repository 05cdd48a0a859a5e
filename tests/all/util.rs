//! Test helpers: a plugins folder with chosen plugins, the binary, and an
//! HTTP server with the routes the tests need.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_owned()
}

/// A built plugin file: the examples in plugins/, test plugins in tests/plugins/.
pub fn plugin_file(name: &str) -> PathBuf {
    let root = root();
    for candidate in [
        root.join("plugins").join(format!("{name}.wasm")),
        root.join("tests/plugins").join(format!("{name}.wasm")),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("plugin {name}.wasm is not built: run plugins/build.sh first");
}

/// A temporary plugins folder holding copies of the named plugins.
pub struct PluginDir {
    pub dir: tempfile::TempDir,
}

impl PluginDir {
    pub fn with(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in names {
            std::fs::copy(plugin_file(name), dir.path().join(format!("{name}.wasm")))
                .expect("copy plugin");
        }
        PluginDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write an extra file into the folder.
    pub fn add(&self, file: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join(file), bytes).expect("write plugin file");
    }
}

/// The binary under test.
pub fn jobhost() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobhost"));
    command.env_remove("JOBHOST_LOG").stdin(Stdio::null());
    command
}

/// What a finished run printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Fail if any of `secrets` appears in the output of any of `runs`.
pub fn assert_hidden(runs: &[&Run], secrets: &[&str]) {
    let everything = runs
        .iter()
        .map(|run| format!("{run:?}"))
        .collect::<String>();
    for secret in secrets {
        assert!(
            !everything.contains(secret),
            "`{secret}` shown: {everything}"
        );
    }
}

impl Run {
    /// Output lines parsed as JSON.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"))
            })
            .collect()
    }

    /// The `record` field of every output line.
    pub fn record_values(&self) -> Vec<serde_json::Value> {
        self.records()
            .into_iter()
            .map(|r| r["record"].clone())
            .collect()
    }

    /// The `record` field of the output line of task `id` (the first, if
    /// the task made several); panics if there is none.
    pub fn record_of(&self, id: &str) -> serde_json::Value {
        self.records()
            .into_iter()
            .find(|r| r["task_id"] == id)
            .unwrap_or_else(|| panic!("no record for {id}: {self:?}"))["record"]
            .clone()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run the command to completion (with a generous time limit).
pub fn run(command: &mut Command) -> Run {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jobhost");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<Output>();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output().expect("wait"));
    });
    let output = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("jobhost did not finish within 120 s");
        });
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `--dead-letters` file, parsed (empty if the run wrote none).
pub fn read_dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead letter JSON"))
        .collect()
}

/// Write `lines` to a file in a fresh temp dir; keep the dir alive.
pub fn input_file(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tasks.txt");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write input");
    (dir, path)
}

/// Shared state of the test server.
#[derive(Default)]
pub struct ServerState {
    hits: Mutex<HashMap<String, u64>>,
    times: Mutex<HashMap<String, Vec<std::time::Instant>>>,
    in_flight: std::sync::atomic::AtomicU64,
    max_in_flight: std::sync::atomic::AtomicU64,
    /// Documents served at /tracks/{id}.
    pub tracks: Mutex<HashMap<String, Vec<u8>>>,
    /// HTML pages served at /site/{page}.
    pub pages: Mutex<HashMap<String, String>>,
    /// The `accept-encoding` of every request to /encoded/.
    pub accept_encoding: Mutex<Vec<String>>,
    /// The `x-api-key` /private/ wants (unset: every request is refused).
    pub api_key: Mutex<Option<String>>,
    /// (path, `x-api-key` and `authorization` as sent, or "-") of every
    /// request to /private/.
    pub credentials_seen: Mutex<Vec<(String, String, String)>>,
    /// 304 answers sent by /versioned/ and /dated/.
    pub not_modified: std::sync::atomic::AtomicU64,
    /// TCP connections accepted (the TLS server) and their ALPN protocols.
    pub connections: Mutex<Vec<String>>,
}

/// An HTTP server on 127.0.0.1, on its own thread and runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// A TLS server's certificates.
    tls: Option<TlsFiles>,
}

/// Run `serve` on a listener bound to a free loopback port, on a thread
/// and runtime of its own; it gets a receiver that fires when the returned
/// sender is used or dropped.
fn on_its_own_thread<F, Fut>(serve: F) -> (SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addr_tx
                .send(listener.local_addr().expect("addr"))
                .expect("send addr");
            serve(listener, shutdown_rx).await;
        });
    });
    (addr_rx.recv().expect("server address"), shutdown_tx)
}

/// A CA made for one test and a certificate it signed for `localhost` and
/// 127.0.0.1, as PEM files in a directory of their own (and the DER forms
/// a rustls server takes).
pub struct TlsFiles {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl TlsFiles {
    pub fn make() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "jobhost test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("server certificate");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        TlsFiles {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server.key", key.serialize_pem()),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            _dir: dir,
        }
    }
}

fn app(state: Arc<ServerState>) -> axum::Router {
    axum::Router::new()
        .route("/tracks/{id}", get(track))
        .route("/status/{code}", get(status))
        .route("/retry-after/{seconds}", get(retry_after))
        .route("/big/{bytes}", get(big))
        .route("/slow/{millis}", get(slow))
        .route("/site/{page}", get(site))
        .route("/chaos/{name}", get(chaos))
        .route("/redirect/{n}", get(redirect))
        .route("/conc/{millis}", get(concurrent))
        .route("/redirect-to-metadata", get(redirect_to_metadata))
        .route("/encoded/{coding}/{id}", get(encoded))
        .route("/bomb/{mib}", get(bomb))
        .route("/private/{id}", get(private))
        .route("/away/{port}/{id}", get(away))
        .route("/versioned/{id}", get(versioned))
        .route("/dated/{id}", get(dated))
        .with_state(state)
}

impl TestServer {
    pub fn start() -> Self {
        let state = Arc::new(ServerState::default());
        let app = app(state.clone());
        let (addr, shutdown) = on_its_own_thread(move |listener, shutdown| async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            addr,
            state,
            shutdown: Some(shutdown),
            tls: None,
        }
    }

    /// The same routes over TLS, with a certificate for `localhost` and
    /// 127.0.0.1 signed by a CA made for this server (its PEM file:
    /// [`TestServer::ca_file`]). `alpn`: the protocols offered, e.g.
    /// `["h2", "http/1.1"]`; HTTP/2 and HTTP/1.1 are both served.
    pub fn start_tls(alpn: &[&str]) -> Self {
        let files = TlsFiles::make();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![files.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(files.key_der.clone().into()),
            )
            .expect("server TLS config");
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let state = Arc::new(ServerState::default());
        let app = app(state.clone());
        let server_state = state.clone();
        let (addr, shutdown) = on_its_own_thread(move |listener, mut shutdown| async move {
            loop {
                let (tcp, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = &mut shutdown => return,
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                let state = server_state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        state.connections.lock().unwrap().push("failed".into());
                        return;
                    };
                    let protocol = tls
                        .get_ref()
                        .1
                        .alpn_protocol()
                        .map_or("none".to_owned(), |p| {
                            String::from_utf8_lossy(p).into_owned()
                        });
                    state.connections.lock().unwrap().push(protocol);
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        TestServer {
            addr,
            state,
            shutdown: Some(shutdown),
            tls: Some(files),
        }
    }

    /// The CA file of a TLS server.
    pub fn ca_file(&self) -> &Path {
        &self.tls.as_ref().expect("a TLS server").ca
    }

    /// The ALPN protocol of each connection accepted so far (TLS server).
    pub fn connections(&self) -> Vec<String> {
        self.state.connections.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, path)
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> u64 {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// When each request for `path` arrived.
    pub fn times(&self, path: &str) -> Vec<std::time::Instant> {
        self.state
            .times
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// All request times for paths starting with `prefix`, sorted.
    pub fn times_with_prefix(&self, prefix: &str) -> Vec<std::time::Instant> {
        let mut all: Vec<_> = self
            .state
            .times
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .flat_map(|(_, times)| times.clone())
            .collect();
        all.sort();
        all
    }

    /// The most requests in progress at once for /conc/.
    pub fn max_concurrent(&self) -> u64 {
        self.state
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn add_track(&self, id: &str, body: &[u8]) {
        self.state
            .tracks
            .lock()
            .unwrap()
            .insert(id.to_owned(), body.to_vec());
    }

    pub fn add_page(&self, name: &str, html: &str) {
        self.state
            .pages
            .lock()
            .unwrap()
            .insert(name.to_owned(), html.to_owned());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn hit(state: &ServerState, path: String) {
    state
        .times
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .push(std::time::Instant::now());
    *state.hits.lock().unwrap().entry(path).or_default() += 1;
}

async fn redirect_to_metadata() -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
        "",
    )
        .into_response()
}

async fn concurrent(
    State(state): State<Arc<ServerState>>,
    UrlPath(millis): UrlPath<u64>,
) -> Response {
    use std::sync::atomic::Ordering;
    hit(&state, format!("/conc/{millis}"));
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(millis)).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    "done".into_response()
}

async fn track(State(state): State<Arc<ServerState>>, UrlPath(id): UrlPath<String>) -> Response {
    hit(&state, format!("/tracks/{id}"));
    let body = state.tracks.lock().unwrap().get(&id).cloned();
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such track").into_response(),
    }
}

/// A track's document compressed with `coding` (gzip, br, zstd).
async fn encoded(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath((coding, id)): UrlPath<(String, String)>,
) -> Response {
    use std::io::Write as _;
    hit(&state, format!("/encoded/{coding}/{id}"));
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    state.accept_encoding.lock().unwrap().push(accepted);
    let Some(body) = state.tracks.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such track").into_response();
    };
    let compressed = match coding.as_str() {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&body).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(&body).unwrap();
            drop(w);
            out
        }
        "zstd" => zstd::encode_all(&body[..], 3).unwrap(),
        _ => return (StatusCode::BAD_REQUEST, "unknown coding").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_ENCODING, coding),
        ],
        compressed,
    )
        .into_response()
}

/// `mib` MiB of zeros, gzipped (a few KiB on the wire).
async fn bomb(State(state): State<Arc<ServerState>>, UrlPath(mib): UrlPath<usize>) -> Response {
    use std::io::Write as _;
    hit(&state, format!("/bomb/{mib}"));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; mib << 20]).unwrap();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        e.finish().unwrap(),
    )
        .into_response()
}

async fn status(State(state): State<Arc<ServerState>>, UrlPath(code): UrlPath<u16>) -> Response {
    hit(&state, format!("/status/{code}"));
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("status {code}"),
    )
        .into_response()
}

async fn retry_after(
    State(state): State<Arc<ServerState>>,
    UrlPath(seconds): UrlPath<u64>,
) -> Response {
    hit(&state, format!("/retry-after/{seconds}"));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, seconds.to_string())],
        "busy",
    )
        .into_response()
}

async fn big(State(state): State<Arc<ServerState>>, UrlPath(bytes): UrlPath<usize>) -> Response {
    hit(&state, format!("/big/{bytes}"));
    // Streamed without a content-length, so the limit must hold while reading.
    let chunk = vec![b'x'; 1024];
    let chunks = bytes.div_ceil(1024);
    let stream = futures_stream(chunk, chunks);
    (
        [(header::CONTENT_TYPE, "text/plain")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

fn futures_stream(
    chunk: Vec<u8>,
    count: usize,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    struct Chunks {
        chunk: Vec<u8>,
        left: usize,
    }
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            self.left -= 1;
            std::task::Poll::Ready(Some(Ok(self.chunk.clone())))
        }
    }
    Chunks { chunk, left: count }
}

async fn slow(State(state): State<Arc<ServerState>>, UrlPath(millis): UrlPath<u64>) -> Response {
    hit(&state, format!("/slow/{millis}"));
    tokio::time::sleep(Duration::from_millis(millis)).await;
    "finally".into_response()
}

async fn site(State(state): State<Arc<ServerState>>, UrlPath(page): UrlPath<String>) -> Response {
    hit(&state, format!("/site/{page}"));
    let html = state.pages.lock().unwrap().get(&page).cloned();
    match html {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => (StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

async fn chaos(State(state): State<Arc<ServerState>>, UrlPath(name): UrlPath<String>) -> Response {
    hit(&state, format!("/chaos/{name}"));
    (
        [(header::CONTENT_TYPE, "text/plain")],
        format!("chaos {name}"),
    )
        .into_response()
}

async fn redirect(State(state): State<Arc<ServerState>>, UrlPath(n): UrlPath<u32>) -> Response {
    hit(&state, format!("/redirect/{n}"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/redirect/{}", n + 1))],
        "",
    )
        .into_response()
}

/// A track, only with the `x-api-key` the state holds; records what came.
async fn private(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    hit(&state, format!("/private/{id}"));
    let value = |name| {
        headers.get(name).map_or("-".to_owned(), |v| {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        })
    };
    let (key, authorization) = (value("x-api-key"), value("authorization"));
    state.credentials_seen.lock().unwrap().push((
        format!("/private/{id}"),
        key.clone(),
        authorization,
    ));
    let wanted = state.api_key.lock().unwrap().clone();
    if wanted.is_none_or(|wanted| wanted != key) {
        return (StatusCode::UNAUTHORIZED, "who are you?").into_response();
    }
    track(State(state), UrlPath(id)).await
}

/// A redirect to /private/{id} on `localhost:port`: another host name
/// for the same server.
async fn away(
    State(state): State<Arc<ServerState>>,
    UrlPath((port, id)): UrlPath<(u16, String)>,
) -> Response {
    hit(&state, format!("/away/{port}/{id}"));
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("http://localhost:{port}/private/{id}"),
        )],
        "",
    )
        .into_response()
}

/// A track with an ETag (its length and a checksum); 304 when the request's
/// If-None-Match names it.
async fn versioned(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    hit(&state, format!("/versioned/{id}"));
    let Some(body) = state.tracks.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such track").into_response();
    };
    let sum = body.iter().fold(0u64, |sum, &b| {
        sum.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let etag = format!("\"{}-{sum:x}\"", body.len());
    let asked = headers.get(header::IF_NONE_MATCH).map(|v| v.as_bytes());
    if asked == Some(etag.as_bytes()) {
        state
            .not_modified
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// A track with a fixed Last-Modified date; 304 when If-Modified-Since
/// names it.
async fn dated(
    State(state): State<Arc<ServerState>>,
    headers: axum::http::HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    const DATE: &str = "Tue, 01 Dec 2026 10:00:00 GMT";
    hit(&state, format!("/dated/{id}"));
    let Some(body) = state.tracks.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such track").into_response();
    };
    if headers.get(header::IF_MODIFIED_SINCE).map(|v| v.as_bytes()) == Some(DATE.as_bytes()) {
        state
            .not_modified
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::LAST_MODIFIED, DATE),
        ],
        body,
    )
        .into_response()
}
