//! A webhook receiver on loopback: keeps every JSON body it is posted, by the path's last
//! segment, so a test can count the notifications each webhook got.

use std::sync::{Arc, Mutex};

use serde_json::Value;

type Bodies = Arc<Mutex<Vec<(String, Value)>>>;

pub struct Receiver {
    /// `http://127.0.0.1:PORT`: webhooks are `{url}/{name}`.
    pub url: String,
    got: Bodies,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Bodies = Arc::default();
        let store = got.clone();
        let keep = move |axum::extract::Path(path): axum::extract::Path<String>, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((path, serde_json::from_str(&body).expect("a JSON body")));
                "ok"
            }
        };
        let app = axum::Router::new().route("/{path}", axum::routing::post(keep));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got }
    }

    /// The bodies posted to `{url}/{name}` since the last take.
    pub fn take(&self, name: &str) -> Vec<Value> {
        let mut got = self.got.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = got.drain(..).partition(|(p, _)| p == name);
        *got = rest;
        mine.into_iter().map(|(_, v)| v).collect()
    }
}
