//! Fragment fetches over HTTP against in-process servers on 127.0.0.1:
//! redirects are followed, a stalled store fails within the read timeout,
//! and an explicit proxy gets the request. Deterministic; no live cluster.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gazette_proto::{CompressionCodec, Fragment};
use gazette_tokio::Error;
use gazette_tokio::fragment::{FragmentHttpConfig, FragmentOpener, FragmentProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test server does with a request.
#[derive(Clone, Copy)]
enum Answer {
    /// 200 with this body.
    Body(&'static str),
    /// 200 with this body and `Content-Encoding: gzip`.
    Gzipped(&'static [u8]),
    /// 307 to this path.
    Redirect(&'static str),
    /// Headers of a 200 with a 10-byte body, then nothing (connection kept).
    HeadersThenStall,
    /// Nothing at all (connection kept).
    Stall,
}

/// Serves every connection on 127.0.0.1 with `answer(path)`, recording each
/// request head. Returns the address and the recorded heads.
async fn server(
    answer: impl Fn(&str) -> Answer + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            tokio::spawn(serve_conn(conn, answer.clone(), seen.clone()));
        }
    });
    (addr, lines)
}

async fn serve_conn(
    mut conn: TcpStream,
    answer: Arc<impl Fn(&str) -> Answer>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    loop {
        // Read one request head.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8(head).unwrap();
        let line = head.lines().next().unwrap().to_string();
        seen.lock().unwrap().push(head.clone());
        // The request target: a path, or an absolute URL through a proxy.
        let target = line.split(' ').nth(1).unwrap().to_string();
        let path = match target.find("://") {
            Some(i) => target[i + 3..]
                .find('/')
                .map_or("/".to_string(), |j| target[i + 3 + j..].to_string()),
            None => target,
        };
        let response = match answer(&path) {
            Answer::Body(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            Answer::Gzipped(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            Answer::Redirect(to) => format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
            ),
            Answer::HeadersThenStall => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".into(),
            Answer::Stall => String::new(),
        };
        let mut response = response.into_bytes();
        if let Answer::Gzipped(body) = answer(&path) {
            response.extend_from_slice(body);
        }
        if conn.write_all(&response).await.is_err() {
            return;
        }
        if matches!(answer(&path), Answer::HeadersThenStall | Answer::Stall) {
            // Hold the connection open without a byte more, until the
            // client gives up and closes it.
            let _ = conn.read(&mut byte).await;
            return;
        }
    }
}

fn fragment(len: i64) -> Fragment {
    Fragment {
        journal: "a/journal".into(),
        begin: 0,
        end: len,
        compression_codec: CompressionCodec::None as i32,
        ..Default::default()
    }
}

/// Reads a whole fragment at `url`.
async fn read_fragment(opener: &FragmentOpener, url: &str, len: i64) -> Result<Vec<u8>, Error> {
    let mut content = opener.open_fragment(&fragment(len), 0, url).await?;
    let mut got = Vec::new();
    while let Some((_, bytes)) = content.next().await? {
        got.extend_from_slice(&bytes);
    }
    Ok(got)
}

/// The request lines of recorded heads.
fn request_lines(heads: &Mutex<Vec<String>>) -> Vec<String> {
    let heads = heads.lock().unwrap();
    heads
        .iter()
        .map(|h| h.lines().next().unwrap().to_string())
        .collect()
}

/// An opener by `config` that ignores any proxy of the environment (the
/// servers are on loopback, which a proxy would not reach).
fn opener(config: FragmentHttpConfig) -> FragmentOpener {
    FragmentOpener::with_http(None, config.proxy(FragmentProxy::Disabled)).unwrap()
}

/// A bound on the whole test, far above the timeouts configured: the
/// fetch must end by itself.
const TEST_BOUND: Duration = Duration::from_secs(20);

/// How long a fetch configured with a sub-second timeout may take at most.
const SLACK_BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn redirects_are_followed_to_the_fragment() {
    let (addr, lines) = server(|path| match path {
        "/signed?sig=1" => Answer::Redirect("/moved/once?sig=2"),
        "/moved/once?sig=2" => Answer::Redirect("/fragment"),
        "/fragment" => Answer::Body("hello"),
        _ => Answer::Body("wrong"),
    })
    .await;
    let opener = opener(FragmentHttpConfig::default());
    let url = format!("http://{addr}/signed?sig=1");
    let got = tokio::time::timeout(TEST_BOUND, read_fragment(&opener, &url, 5))
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(got, b"hello");
    assert_eq!(
        request_lines(&lines),
        [
            "GET /signed?sig=1 HTTP/1.1",
            "GET /moved/once?sig=2 HTTP/1.1",
            "GET /fragment HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn endless_redirects_fail_at_the_tenth() {
    let (addr, lines) = server(|_| Answer::Redirect("/again")).await;
    let opener = opener(FragmentHttpConfig::default());
    let url = format!("http://{addr}/start");
    let err = tokio::time::timeout(TEST_BOUND, read_fragment(&opener, &url, 5))
        .await
        .expect("bounded")
        .unwrap_err();
    assert!(matches!(err, Error::Fragment { .. }), "{err}");
    // As Go's client: ten requests, and the tenth redirect is an error.
    assert_eq!(lines.lock().unwrap().len(), 10);
}

#[tokio::test]
async fn a_body_that_stalls_fails_within_the_read_timeout() {
    let (addr, _) = server(|_| Answer::HeadersThenStall).await;
    let read_timeout = Duration::from_millis(300);
    let opener = opener(FragmentHttpConfig::default().read_timeout(read_timeout));
    let url = format!("http://{addr}/fragment");
    let started = Instant::now();
    let err = tokio::time::timeout(TEST_BOUND, read_fragment(&opener, &url, 10))
        .await
        .expect("the stalled fetch must end by itself")
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(took >= read_timeout, "failed before the timeout: {took:?}");
    // Far below the 60 s default: the configured timeout ended it (with
    // room for a loaded machine).
    assert!(took < SLACK_BOUND, "took {took:?}");
}

#[tokio::test]
async fn a_store_that_never_answers_fails_within_the_read_timeout() {
    let (addr, _) = server(|_| Answer::Stall).await;
    let read_timeout = Duration::from_millis(300);
    let opener = opener(FragmentHttpConfig::default().read_timeout(read_timeout));
    let url = format!("http://{addr}/fragment");
    let started = Instant::now();
    let err = tokio::time::timeout(TEST_BOUND, read_fragment(&opener, &url, 10))
        .await
        .expect("the stalled fetch must end by itself")
        .unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("timed out"), "{err}");
    // Far below the 60 s default: the configured timeout ended it (with
    // room for a loaded machine).
    assert!(took < SLACK_BOUND, "took {took:?}");
}

#[tokio::test]
async fn an_explicit_proxy_gets_the_fragment_request() {
    // The proxy answers itself; the store's host does not even resolve.
    let (proxy, lines) = server(|_| Answer::Body("proxied")).await;
    let config = FragmentHttpConfig::default().proxy(FragmentProxy::Url(format!("http://{proxy}")));
    let opener = FragmentOpener::with_http(None, config).unwrap();
    let url = "http://fragment-store.invalid/a/journal/frag?X-Sig=abc";
    let got = tokio::time::timeout(TEST_BOUND, read_fragment(&opener, url, 7))
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(got, b"proxied");
    assert_eq!(
        request_lines(&lines),
        ["GET http://fragment-store.invalid/a/journal/frag?X-Sig=abc HTTP/1.1"]
    );
}

#[tokio::test]
async fn an_invalid_proxy_url_is_refused_when_building() {
    let config = FragmentHttpConfig::default().proxy(FragmentProxy::Url("::not a url".into()));
    let err = FragmentOpener::with_http(None, config).unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
}

/// "hello", gzipped.
const HELLO_GZ: &[u8] = &[
    31, 139, 8, 0, 0, 0, 0, 0, 2, 255, 203, 72, 205, 201, 201, 7, 0, 134, 166, 16, 54, 5, 0, 0, 0,
];

#[tokio::test]
async fn content_encoding_reaches_the_decoder_untouched() {
    let (addr, heads) = server(|_| Answer::Gzipped(HELLO_GZ)).await;
    let opener = opener(FragmentHttpConfig::default());
    let url = format!("http://{addr}/fragment");
    // The HTTP client neither asks for nor undoes compression: the raw body
    // and its Content-Encoding are the decoder's (GZIP_OFFLOAD relies on
    // seeing them).
    let mut opened = opener.get(&url, "identity").await.unwrap();
    assert_eq!(opened.content_encoding.as_deref(), Some("gzip"));
    let mut raw = Vec::new();
    while let Some(chunk) = opened.body.next_chunk().await.unwrap() {
        raw.extend_from_slice(&chunk);
    }
    assert_eq!(raw, HELLO_GZ);
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.contains("\r\naccept-encoding: identity\r\n"), "{head}");
    // The core's decoder undoes the transport gzip over a NONE fragment.
    let got = read_fragment(&opener, &url, 5).await.unwrap();
    assert_eq!(got, b"hello");
}
