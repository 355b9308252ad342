//! One-line error causes: an error and its chain of sources as one line of their `Display`
//! texts ("dispatch failure: io error: tcp connect error: Connection refused (os error 111)"),
//! never the `Debug` dump some SDK errors append (`ConnectorError { kind: Io, … }`).

use std::error::Error;

/// `e` and its sources, each text once, joined by `": "`.
pub fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        let text = text.lines().next().unwrap_or_default().trim();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(text)) {
            parts.push(text.to_owned());
        }
        current = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<dyn Error + Send + Sync>>,
    }

    fn chain(texts: &[&'static str]) -> Box<dyn Error + Send + Sync> {
        texts.iter().rev().fold(None, |source, text| Some(Box::new(Layer { text, source }) as Box<_>)).unwrap()
    }

    #[test]
    fn the_chain_in_one_line_each_text_once() {
        let e = chain(&["dispatch failure", "io error", "tcp connect error", "Connection refused (os error 111)"]);
        assert_eq!(one_line(&*e), "dispatch failure: io error: tcp connect error: Connection refused (os error 111)");
        let e = chain(&["cannot read: timed out", "timed out", "line one\nline two"]);
        assert_eq!(one_line(&*e), "cannot read: timed out: line one");
    }

    #[test]
    fn sdk_errors_lose_their_debug_dump() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let e = aws_sdk_sqs::error::SdkError::<aws_sdk_sqs::operation::receive_message::ReceiveMessageError, ()>::dispatch_failure(aws_sdk_sqs::error::ConnectorError::io(
            Box::new(io),
        ));
        let dump = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
        assert!(dump.contains("ConnectorError"), "what the sdk's own display shows: {dump}");
        let text = one_line(&e);
        assert!(text.contains("Connection refused"), "{text}");
        assert!(!text.contains('{') && !text.contains("ConnectorError"), "{text}");
    }
}
