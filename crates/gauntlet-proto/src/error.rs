use serde_json::{Value, json};

/// Maelstrom's error codes (0–999 reserved; 1000 and up are user-defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub u64);

impl ErrorCode {
    pub const TIMEOUT: ErrorCode = ErrorCode(0);
    pub const NODE_NOT_FOUND: ErrorCode = ErrorCode(1);
    pub const NOT_SUPPORTED: ErrorCode = ErrorCode(10);
    pub const TEMPORARILY_UNAVAILABLE: ErrorCode = ErrorCode(11);
    pub const MALFORMED_REQUEST: ErrorCode = ErrorCode(12);
    pub const CRASH: ErrorCode = ErrorCode(13);
    pub const ABORT: ErrorCode = ErrorCode(14);
    pub const KEY_DOES_NOT_EXIST: ErrorCode = ErrorCode(20);
    pub const KEY_ALREADY_EXISTS: ErrorCode = ErrorCode(21);
    pub const PRECONDITION_FAILED: ErrorCode = ErrorCode(22);
    pub const TXN_CONFLICT: ErrorCode = ErrorCode(30);

    /// The error's name as Maelstrom spells it; `unknown` for codes it does not define.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "timeout",
            1 => "node-not-found",
            10 => "not-supported",
            11 => "temporarily-unavailable",
            12 => "malformed-request",
            13 => "crash",
            14 => "abort",
            20 => "key-does-not-exist",
            21 => "key-already-exists",
            22 => "precondition-failed",
            30 => "txn-conflict",
            _ => "unknown",
        }
    }

    /// A definite error means the operation certainly did not happen.
    /// Unknown codes, and every user-defined code, are indefinite.
    pub fn is_definite(self) -> bool {
        matches!(self.0, 1 | 10 | 11 | 12 | 14 | 20 | 21 | 22 | 30)
    }

    /// An error reply body for the request whose `msg_id` is given.
    pub fn reply(self, in_reply_to: Option<u64>, text: impl Into<String>) -> Value {
        json!({"type": "error", "in_reply_to": in_reply_to, "code": self.0, "text": text.into()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definiteness_follows_maelstrom() {
        assert!(!ErrorCode::TIMEOUT.is_definite());
        assert!(!ErrorCode::CRASH.is_definite());
        assert!(ErrorCode::PRECONDITION_FAILED.is_definite());
        assert!(!ErrorCode(1000).is_definite());
        assert_eq!(ErrorCode(1000).name(), "unknown");
    }
}
