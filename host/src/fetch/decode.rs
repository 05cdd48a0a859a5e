//! Content codings: the `Accept-Encoding` both HTTP clients send, and the
//! decoding of a response body by its `Content-Encoding`, bounded on the
//! decoded size, so that a small compressed body that expands without end
//! (a decompression bomb) costs at most the body limit and is named as such.
//!
//! gzip and deflate by flate2, br by brotli-decompressor, zstd by the zstd
//! crate (libzstd); no coding of our own.

use std::io::Read;

/// What the fetcher accepts, most preferred first.
pub const ACCEPT_ENCODING: &str = "gzip, br, zstd";

/// Why a body could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The decoded body passes the limit.
    #[error("the body decompresses to more than {limit} bytes ({coding}; a decompression bomb?): raise --max-body if the document is genuine")]
    Bomb {
        /// The body limit.
        limit: u64,
        /// The coding that expanded past it.
        coding: String,
    },
    /// A coding the fetcher did not ask for.
    #[error("the server answered with content coding `{0}`, which jobhost does not decode (it asks for {ACCEPT_ENCODING})")]
    Unsupported(String),
    /// The body is not valid in its coding.
    #[error("the body is not valid {coding}: {message}")]
    Corrupt {
        /// The coding.
        coding: String,
        /// What the decoder said.
        message: String,
    },
}

/// Decode `body`, encoded with the codings of a `Content-Encoding` value
/// (applied in the order listed, so undone in reverse), into at most
/// `limit` bytes. `identity` and an empty value leave it as it is.
pub fn decode(codings: &str, mut body: Vec<u8>, limit: u64) -> Result<Vec<u8>, DecodeError> {
    let codings: Vec<String> = codings
        .split(',')
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect();
    for coding in codings.iter().rev() {
        body = decode_one(coding, &body, limit)?;
    }
    Ok(body)
}

fn decode_one(coding: &str, body: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |error: std::io::Error| DecodeError::Corrupt {
        coding: coding.to_owned(),
        message: error.to_string(),
    };
    let decoder: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        // RFC 9110: zlib-wrapped; some servers send raw deflate.
        "deflate" => {
            if body.len() >= 2
                && u16::from_be_bytes([body[0], body[1]]) % 31 == 0
                && body[0] & 0x0f == 8
            {
                Box::new(flate2::read::ZlibDecoder::new(body))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(body))
            }
        }
        "br" => Box::new(brotli_decompressor::Decompressor::new(body, 8 * 1024)),
        "zstd" => Box::new(zstd::stream::read::Decoder::with_buffer(body).map_err(corrupt)?),
        other => return Err(DecodeError::Unsupported(other.to_owned())),
    };
    let mut decoded = Vec::with_capacity(body.len().saturating_mul(4).min(limit as usize));
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(&mut decoded)
        .map_err(corrupt)?;
    if decoded.len() as u64 > limit {
        return Err(DecodeError::Bomb {
            limit,
            coding: coding.to_owned(),
        });
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        writer.write_all(data).expect("brotli");
        drop(writer);
        out
    }

    fn deflate(data: &[u8], zlib: bool) -> Vec<u8> {
        if zlib {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("zlib");
            e.finish().expect("zlib")
        } else {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).expect("deflate");
            e.finish().expect("deflate")
        }
    }

    #[test]
    fn every_accepted_coding_decodes_and_lists_are_undone_in_reverse() {
        let text = br#"{"id":"1001","title":"A Song"}"#.repeat(50);
        let zstd = zstd::encode_all(&text[..], 3).expect("zstd");
        for (coding, body) in [
            ("gzip", gzip(&text)),
            ("x-gzip", gzip(&text)),
            ("GZIP", gzip(&text)),
            ("br", brotli(&text)),
            ("zstd", zstd.clone()),
            ("deflate", deflate(&text, true)),
            ("deflate", deflate(&text, false)),
            ("identity", text.clone()),
            ("", text.clone()),
            ("gzip, br", brotli(&gzip(&text))),
        ] {
            assert_eq!(
                decode(coding, body, 1 << 20).expect(coding),
                text,
                "{coding}"
            );
        }
    }

    #[test]
    fn a_body_that_expands_past_the_limit_is_named_a_bomb() {
        let zeros = vec![0u8; 8 << 20];
        let small = gzip(&zeros);
        assert!(small.len() < 64 << 10, "{} bytes", small.len());
        let error = decode("gzip", small.clone(), 1 << 20).expect_err("a bomb");
        assert_eq!(
            error,
            DecodeError::Bomb {
                limit: 1 << 20,
                coding: "gzip".into()
            }
        );
        assert!(error.to_string().contains("decompression bomb"), "{error}");
        // Exactly at the limit is fine.
        assert_eq!(
            decode("gzip", small, 8 << 20).expect("at the limit").len(),
            8 << 20
        );
        let zstd = zstd::encode_all(&zeros[..], 3).expect("zstd");
        assert!(matches!(
            decode("zstd", zstd, 1000),
            Err(DecodeError::Bomb { .. })
        ));
        assert!(matches!(
            decode("br", brotli(&zeros), 1000),
            Err(DecodeError::Bomb { .. })
        ));
    }

    #[test]
    fn unknown_codings_and_broken_bodies_say_what_they_are() {
        let error = decode("compress", b"x".to_vec(), 100).expect_err("unknown");
        assert!(error.to_string().contains("`compress`"), "{error}");
        let error = decode("gzip", b"not gzip at all".to_vec(), 100).expect_err("corrupt");
        assert!(error.to_string().contains("not valid gzip"), "{error}");
        let mut truncated = gzip(b"hello hello hello");
        truncated.truncate(truncated.len() - 6);
        assert!(matches!(
            decode("gzip", truncated, 100),
            Err(DecodeError::Corrupt { .. })
        ));
    }
}
