//! Just enough RESP2 (the Redis protocol) for the examples: commands out as
//! arrays of bulk strings, every reply type in. Hand-written so the examples
//! show exactly what goes over the wire and depend on no Redis crate.
//!
//! The parser never trusts a length it reads: bulk strings and lines are
//! capped, and arrays grow element by element rather than preallocating, so
//! a garbled or hostile stream yields an error, not an allocation failure.

use std::io::{self, BufRead, Read};

/// The longest bulk string accepted. Redis allows 512 MiB; nothing the
/// examples store comes close, and a wild length from a broken stream must
/// not turn into a huge allocation.
pub const MAX_BULK: usize = 64 * 1024 * 1024;

/// The longest header or simple-string line accepted, CRLF included.
const MAX_LINE: u64 = 64 * 1024;

/// How deep arrays may nest. Redis replies to the examples' commands are
/// flat; the cap keeps a malicious stream from exhausting the stack.
const MAX_DEPTH: usize = 32;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR …`: Redis refused the command; the connection is still fine.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$5\r\nhello`
    Bulk(Vec<u8>),
    /// `*2\r\n…`
    Array(Vec<Reply>),
    /// `$-1` or `*-1`: RESP2's two spellings of "no value".
    Nil,
}

/// A command as RESP sends it: an array of bulk strings. Binary-safe, so
/// keys and values may hold spaces, newlines or any byte.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one complete reply. Protocol violations and a stream that ends
/// early are `ErrorKind::InvalidData` / `UnexpectedEof`; after any error the
/// stream's position is unknown, so the caller must drop the connection.
pub fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    read_at_depth(reader, 0)
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn read_at_depth(reader: &mut impl BufRead, depth: usize) -> io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => rest
            .parse()
            .map(Reply::Integer)
            .map_err(|_| invalid(format!("bad integer reply {line:?}"))),
        "$" => {
            let Some(len) = length(rest, &line)? else {
                return Ok(Reply::Nil);
            };
            if len > MAX_BULK {
                return Err(invalid(format!("bulk reply too large: {len} bytes")));
            }
            let mut value = vec![0; len + 2];
            reader.read_exact(&mut value)?;
            if !value.ends_with(b"\r\n") {
                return Err(invalid("bulk reply not followed by CRLF".to_owned()));
            }
            value.truncate(len);
            Ok(Reply::Bulk(value))
        }
        "*" => {
            let Some(len) = length(rest, &line)? else {
                return Ok(Reply::Nil);
            };
            if depth >= MAX_DEPTH {
                return Err(invalid("arrays nested too deeply".to_owned()));
            }
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(read_at_depth(reader, depth + 1)?);
            }
            Ok(Reply::Array(items))
        }
        _ => Err(invalid(format!("unexpected reply {line:?}"))),
    }
}

/// A `$`/`*` length: `None` for -1 (nil), an error for anything else
/// negative or unparsable.
fn length(text: &str, line: &str) -> io::Result<Option<usize>> {
    match text.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| invalid(format!("bad length {line:?}"))),
        Err(_) => Err(invalid(format!("bad length {line:?}"))),
    }
}

/// One CRLF-terminated line without its CRLF, at most [`MAX_LINE`] long.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a reply",
        ));
    }
    let Some(line) = line.strip_suffix(b"\r\n") else {
        return Err(if line.len() as u64 >= MAX_LINE {
            invalid("reply line too long".to_owned())
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "reply cut short")
        });
    };
    String::from_utf8(line.to_vec()).map_err(|_| invalid("reply line is not UTF-8".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut &bytes[..])
    }

    #[test]
    fn encodes_binary_safe_arrays() {
        assert_eq!(
            encode(&[b"SET", b"k", b"a b\r\n"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na b\r\n\r\n"
        );
    }

    #[test]
    fn parses_every_reply_type() {
        assert_eq!(reply(b"+PONG\r\n").unwrap(), Reply::Simple("PONG".into()));
        assert_eq!(
            reply(b"-ERR wrong\r\n").unwrap(),
            Reply::Error("ERR wrong".into())
        );
        assert_eq!(reply(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(
            reply(b"$7\r\nhe\r\nllo\r\n").unwrap(),
            Reply::Bulk(b"he\r\nllo".to_vec())
        );
        assert_eq!(reply(b"$0\r\n\r\n").unwrap(), Reply::Bulk(Vec::new()));
        assert_eq!(reply(b"$-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(reply(b"*-1\r\n").unwrap(), Reply::Nil);
        assert_eq!(reply(b"*0\r\n").unwrap(), Reply::Array(Vec::new()));
        assert_eq!(
            reply(b"*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n").unwrap(),
            Reply::Array(vec![
                Reply::Integer(1),
                Reply::Nil,
                Reply::Array(vec![Reply::Simple("x".into())]),
            ])
        );
    }

    #[test]
    fn a_reply_leaves_the_next_one_in_the_stream() {
        let mut stream = &b"+OK\r\n$1\r\nv\r\n"[..];
        assert_eq!(read_reply(&mut stream).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut stream).unwrap(), Reply::Bulk(b"v".to_vec()));
        assert!(stream.is_empty());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        let long = vec![b'+'; MAX_LINE as usize + 10];
        for bad in [
            &b""[..],
            b"+OK",
            b"+OK\n",
            b"?what\r\n",
            b"\r\n",
            b":x\r\n",
            b"$-2\r\n",
            b"$x\r\n",
            b"$5\r\nhel",
            b"$3\r\nhello\r\n",
            b"$99999999999\r\n",
            b"*2\r\n:1\r\n",
            b"*-5\r\n",
            b"+\xff\r\n",
            deep.as_bytes(),
            &long,
        ] {
            assert!(reply(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
