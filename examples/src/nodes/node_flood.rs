//! Load generator for the router benchmark. On `{"type":"flood","tokens":K}`
//! from a client it replies `flood_ok`, then injects K `{"type":"token"}`
//! messages to other nodes; every `token` it receives is forwarded at once to
//! a pseudo-randomly chosen other node, so the tokens circulate forever.
//!
//! On `{"type":"firehose"}` it replies `firehose_ok` and from then on only
//! prints tokens to the other nodes, as fast as it can, and never reads its
//! stdin again: the worst sender and the worst receiver at once, for the
//! flood benchmark (the network's limits).
//!
//! Built for the lowest cost per message, so it does not use the node kit's
//! threads: one thread, buffered stdin and stdout, stdout flushed only when
//! no complete line is waiting in the input buffer, token lines recognised by
//! their raw body without parsing it, and the outgoing token lines prepared
//! once per destination after `init`.

use std::io::{self, BufRead, BufReader, BufWriter, Write};

use crate::Rng;
use gauntlet_proto::{ErrorCode, RawEnvelope, body_type};
use serde_json::{Value, json};

const TOKEN_BODY: &str = r#"{"type":"token"}"#;

struct Flood {
    me: String,
    /// One ready-made token line (with its newline) per other node.
    token_lines: Vec<Vec<u8>>,
    rng: Rng,
    next_msg_id: u64,
}

impl Flood {
    fn token(&mut self, out: &mut impl Write) -> io::Result<()> {
        if self.token_lines.is_empty() {
            return Ok(()); // a lone node has nowhere to send tokens
        }
        let i = self.rng.below(self.token_lines.len());
        out.write_all(&self.token_lines[i])
    }

    fn reply(
        &mut self,
        out: &mut impl Write,
        env: &RawEnvelope,
        body: &Value,
        mut reply: Value,
    ) -> io::Result<()> {
        reply["in_reply_to"] = body.get("msg_id").cloned().unwrap_or(Value::Null);
        reply["msg_id"] = self.next_msg_id.into();
        self.next_msg_id += 1;
        let src = if self.me.is_empty() {
            &env.dest
        } else {
            self.me.as_str()
        };
        serde_json::to_writer(
            &mut *out,
            &json!({"src": src, "dest": env.src, "body": reply}),
        )?;
        out.write_all(b"\n")
    }

    fn handle(&mut self, out: &mut impl Write, line: &str) -> io::Result<()> {
        let env = match RawEnvelope::parse(line) {
            Ok(env) => env,
            Err(e) => {
                eprintln!("skipped a line that is not a message ({e}): {line}");
                return Ok(());
            }
        };
        let raw = env.body.get();
        if raw == TOKEN_BODY {
            return self.token(out);
        }
        let kind = body_type(env.body);
        if kind.as_deref() == Some("token") {
            return self.token(out);
        }
        let Ok(body) = env.body_value() else {
            return Ok(());
        };
        match kind.as_deref() {
            Some("init") => {
                self.me = body["node_id"].as_str().unwrap_or_default().to_owned();
                let ids = body["node_ids"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                self.token_lines = ids
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|id| *id != self.me)
                    .map(|dest| {
                        let mut line = serde_json::to_vec(&json!({"src": self.me, "dest": dest}))
                            .unwrap_or_default();
                        line.pop(); // the closing brace
                        line.extend_from_slice(b",\"body\":");
                        line.extend_from_slice(TOKEN_BODY.as_bytes());
                        line.extend_from_slice(b"}\n");
                        line
                    })
                    .collect();
                self.reply(out, &env, &body, json!({"type": "init_ok"}))
            }
            Some("firehose") => {
                self.reply(out, &env, &body, json!({"type": "firehose_ok"}))?;
                out.flush()?;
                if self.token_lines.is_empty() {
                    return Ok(());
                }
                // Until the pipe breaks (the node is killed at the end).
                loop {
                    self.token(out)?;
                }
            }
            Some("flood") => {
                let tokens = body["tokens"].as_u64().unwrap_or(0);
                self.reply(out, &env, &body, json!({"type": "flood_ok"}))?;
                for _ in 0..tokens {
                    self.token(out)?;
                }
                Ok(())
            }
            _ if body.get("msg_id").is_some() && body.get("in_reply_to").is_none() => {
                let error =
                    ErrorCode::NOT_SUPPORTED.reply(None, format!("unsupported type {kind:?}"));
                self.reply(out, &env, &body, error)
            }
            _ => Ok(()),
        }
    }
}

pub fn main() -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut flood = Flood {
        me: String::new(),
        token_lines: Vec::new(),
        rng: Rng::new(crate::random_u64()),
        next_msg_id: 1,
    };
    let mut line = String::new();
    loop {
        // Flush only when the next read would wait for more input.
        if !input.buffer().contains(&b'\n') {
            out.flush()?;
        }
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                eprintln!("skipped a line that is not UTF-8");
                continue;
            }
            Err(e) => return Err(e),
        }
        let text = line.trim_end();
        if !text.is_empty() {
            flood.handle(&mut out, text)?;
        }
    }
    out.flush()
}
