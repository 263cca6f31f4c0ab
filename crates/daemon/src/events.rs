//! The events stream (`GET /events`): a broadcast of Docker-shaped event objects,
//! plus a bounded history so `since` can replay what happened before the client
//! connected.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

/// One event, as Docker sends it.
#[derive(Debug, Clone)]
pub struct Event {
    pub typ: &'static str,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub time_nano: i128,
}

impl Event {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.typ,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": (self.time_nano / 1_000_000_000) as i64,
            "timeNano": self.time_nano as i64,
        });
        if self.typ == "container" || self.typ == "image" {
            v["status"] = json!(self.action);
            v["id"] = json!(self.id);
            if let Some(from) = self.attributes.get("image") {
                v["from"] = json!(from);
            }
        }
        v
    }

    /// Docker's filters: `type`, `event`/`action`, `container`, `image`, `label`, `name`.
    pub fn matches(&self, filters: &BTreeMap<String, Vec<String>>) -> bool {
        filters.iter().all(|(key, values)| {
            values.iter().any(|want| match key.as_str() {
                "type" => self.typ == want,
                "event" | "action" => {
                    self.action == *want || self.action.split(':').next() == Some(want)
                }
                "container" => {
                    self.typ == "container"
                        && (self.id.starts_with(want.as_str())
                            || self.attributes.get("name") == Some(want))
                }
                "image" => {
                    self.attributes.get("image") == Some(want)
                        || (self.typ == "image" && self.id == *want)
                }
                "name" => self.attributes.get("name") == Some(want),
                "label" => match want.split_once('=') {
                    Some((k, v)) => self.attributes.get(k).map(String::as_str) == Some(v),
                    None => self.attributes.contains_key(want.as_str()),
                },
                _ => true,
            })
        })
    }
}

/// The daemon's event bus.
pub struct Events {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::new()),
        }
    }
}

pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl Events {
    pub fn emit(
        &self,
        typ: &'static str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let event = Event {
            typ,
            action: action.to_owned(),
            id: id.to_owned(),
            attributes,
            time_nano: now_nanos(),
        };
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(event.clone());
        let _ = self.tx.send(event);
    }

    /// Past events at or after `since` (nanoseconds), and a receiver for new ones,
    /// taken under one lock so nothing falls between them.
    pub fn subscribe(&self, since: Option<i128>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let past = match since {
            Some(s) => h.iter().filter(|e| e.time_nano >= s).cloned().collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}
