//! A minimal smart-HTTP git server for tests: `git http-backend` as a CGI behind authentication,
//! on loopback, over plain HTTP or over real TLS with a certificate from a CA made at run time.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The user name the server expects with the password (the one hosting services use for tokens).
pub const USER: &str = "x-access-token";

/// A certificate authority made for one test, never written anywhere but a temporary file.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A new self-signed CA whose subject is `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("generate the CA key");
        let issuer =
            rcgen::CertifiedIssuer::self_signed(params, key).expect("self-sign the CA certificate");
        TestCa { issuer }
    }

    /// The CA certificate, PEM-encoded (what `SSL_CERT_FILE` or `GIT_SSL_CAINFO` names).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.pem()).expect("write the CA certificate");
    }

    /// A server certificate for `127.0.0.1` and `localhost` signed by this CA, and its key.
    fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server names");
        // A subject of its own: with the CA's, the certificate would look self-signed.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "gitstellar test git server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().expect("generate the server key");
        let cert = params
            .signed_by(&key, &*self.issuer)
            .expect("sign the server certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }
}

/// What the server saw, for tests to check that the client really spoke to it.
#[derive(Default)]
struct Seen {
    /// The `Authorization` header of every request answered (empty when it had none).
    authorizations: Mutex<Vec<String>>,
    /// TLS handshakes completed.
    handshakes: AtomicUsize,
    /// TLS handshakes that failed, and why (as rustls says).
    handshake_errors: Mutex<Vec<String>>,
}

/// `git http-backend` behind authentication (basic with user [`USER`] and the password, or a
/// bearer token equal to the password) on a loopback port; stops accepting when dropped.
/// Each connection serves one request.
pub struct HttpGit {
    port: u16,
    scheme: &'static str,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
}

impl HttpGit {
    /// Plain HTTP, serving the repositories under `root`.
    pub fn start(root: &Path, password: &str) -> HttpGit {
        HttpGit::spawn(root, password, None)
    }

    /// HTTPS with a certificate for `127.0.0.1` and `localhost` signed by `ca`.
    pub fn start_tls(root: &Path, password: &str, ca: &TestCa) -> HttpGit {
        let (chain, key) = ca.server_identity();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        HttpGit::spawn(root, password, Some(Arc::new(config)))
    }

    fn spawn(root: &Path, password: &str, tls: Option<Arc<rustls::ServerConfig>>) -> HttpGit {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen::default());
        // The git command sends a token as a bearer header, libgit2 as basic credentials.
        let accepted = vec![
            format!("Basic {}", BASE64.encode(format!("{USER}:{password}"))),
            format!("Bearer {password}"),
        ];
        let root = root.to_path_buf();
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                // A client that stalls must not wedge the server for the rest of the test.
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
                match &tls {
                    None => answer(tcp, &root, &accepted, &seen2),
                    Some(config) => serve_tls(tcp, config, &root, &accepted, &seen2),
                }
            }
        });
        HttpGit {
            port,
            scheme,
            stop,
            seen,
        }
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of repository `repo` (relative to the root) at `127.0.0.1`.
    pub fn url(&self, repo: &str) -> String {
        self.url_on("127.0.0.1", repo)
    }

    /// The URL of repository `repo` with the server named `host` (e.g. `localhost`).
    pub fn url_on(&self, host: &str, repo: &str) -> String {
        format!("{}://{host}:{}/{repo}", self.scheme, self.port)
    }

    /// The `Authorization` header of every request answered so far (empty when it had none).
    pub fn authorizations(&self) -> Vec<String> {
        self.seen.authorizations.lock().expect("lock").clone()
    }

    /// How many TLS handshakes completed.
    pub fn tls_handshakes(&self) -> usize {
        self.seen.handshakes.load(Ordering::SeqCst)
    }

    /// Why each failed TLS handshake failed.
    pub fn tls_handshake_errors(&self) -> Vec<String> {
        self.seen.handshake_errors.lock().expect("lock").clone()
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_tls(
    mut tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    root: &Path,
    accepted: &[String],
    seen: &Seen,
) {
    let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
        return;
    };
    // The handshake is driven here rather than by the first read so that a client refusing the
    // certificate shows up in the counts.
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            seen.handshake_errors
                .lock()
                .expect("lock")
                .push(e.to_string());
            return;
        }
    }
    seen.handshakes.fetch_add(1, Ordering::SeqCst);
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    answer(&mut stream, root, accepted, seen);
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

/// Reads one request from `stream` and answers it through `git http-backend`.
fn answer(stream: impl Read + Write, root: &Path, accepted: &[String], seen: &Seen) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        let _ = reader.read_exact(&mut body);
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() || n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let stream = reader.get_mut();
    let auth = header("authorization");
    seen.authorizations
        .lock()
        .expect("lock")
        .push(auth.clone().unwrap_or_default());
    if !auth.is_some_and(|a| accepted.contains(&a)) {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = stream.flush();
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut command = Command::new("git");
    let cgi = super::git_env(&mut command)
        .current_dir(root)
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", USER)
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut cgi) = cgi else {
        return;
    };
    if let Some(mut stdin) = cgi.stdin.take() {
        let _ = stdin.write_all(&body);
    }
    let Ok(out) = cgi.wait_with_output() else {
        return;
    };
    let text = out.stdout;
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| text.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((end, gap)) = split else {
        return;
    };
    let head = String::from_utf8_lossy(&text[..end]).into_owned();
    let payload = &text[end + gap..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !line.trim().is_empty() {
            response.push_str(line.trim_end());
            response.push_str("\r\n");
        }
    }
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    let _ = stream.write_all(payload);
    let _ = stream.flush();
}
