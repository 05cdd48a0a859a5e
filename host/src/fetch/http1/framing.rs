//! The message framing of an HTTP/1.1 response (RFC 9112 sections 6 and 7),
//! sans IO: byte slices in, a head, body bytes and "done" out.
//!
//! It owns every rule that decides where a response ends: the head's
//! framing decision (section 6.3), the chunked coding (section 7.1: sizes,
//! extensions, trailers) and the limits on each. It must not read a socket,
//! know a runtime or keep a buffer of its own: the exchange in `http1.rs`
//! feeds it what the connection has read, and the fuzz target in `fuzz/`
//! feeds it arbitrary bytes split at random points. That target compiles
//! this file on its own, so it may use only `std`, `httparse` and
//! `thiserror`, never another module of the host.
//!
//! Every decision depends only on the bytes, never on how they were split
//! into reads: the same bytes give the same head, body and error whether
//! they come in one piece or one byte at a time.

/// The largest response head (status line and header fields) accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// The most header fields in a response head.
pub const MAX_HEADERS: usize = 128;

/// The longest chunk-size line of a chunked body, extensions included.
pub const MAX_CHUNK_LINE: usize = 8 * 1024;

/// The most bytes of trailer fields after a chunked body.
pub const MAX_TRAILERS: usize = 64 * 1024;

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The body is longer than the limit it is read with.
    #[error("the body exceeds {0} bytes")]
    TooLarge(u64),
    /// The head is malformed, or breaks a framing rule of RFC 9112.
    #[error("{0}")]
    Head(String),
    /// The chunked coding is malformed at byte `offset` of the body.
    #[error("invalid chunked body at byte {offset}: {what}")]
    Chunked {
        /// Where in the body (after the head) the fault was found.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The server closed the connection before a length-framed body ended.
    #[error("the connection closed after {received} of the {length} bytes of the body")]
    ShortBody {
        /// The bytes that came.
        received: u64,
        /// The bytes the head announced.
        length: u64,
    },
    /// The server closed the connection before the last chunk.
    #[error("the connection closed inside the chunked body, after {0} bytes of it")]
    UnfinishedChunks(u64),
}

impl FramingError {
    fn head(message: impl Into<String>) -> Self {
        FramingError::Head(message.into())
    }
}

/// How the body's end is known (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (1xx, 204, 304), or a body already read.
    Done,
    /// This many bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A final response's head, sorted into what the exchange needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The header fields in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Where the body ends.
    pub framing: Framing,
    /// The connection may carry another request once the body is read.
    pub reusable: bool,
}

/// What [`parse_head`] found at the start of the bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: read more.
    Partial,
    /// An interim (1xx) response of this many bytes: skip it, the final
    /// response follows.
    Interim(usize),
    /// The final response's head and its length in bytes; the body starts
    /// right after.
    Final(Head, usize),
}

/// Parse the response head at the start of `input`.
///
/// Only the first [`MAX_HEAD`] bytes are ever looked at, so the answer for
/// a head is the same however much of what follows it has been read.
pub fn parse_head(input: &[u8]) -> Result<Parsed, FramingError> {
    let window = &input[..input.len().min(MAX_HEAD)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    match response.parse(window) {
        Ok(httparse::Status::Complete(length)) => {
            let status = response.code.unwrap_or(0);
            match status {
                101 => Err(FramingError::head(
                    "the server switched protocols, which was not asked for",
                )),
                // 100 Continue, 103 Early Hints: the answer follows.
                100..=199 => Ok(Parsed::Interim(length)),
                _ => Ok(Parsed::Final(head(&response)?, length)),
            }
        }
        Ok(httparse::Status::Partial) if window.len() == MAX_HEAD => {
            Err(FramingError::head("a response head larger than 64 KiB"))
        }
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(error) => Err(FramingError::head(format!("{error} in the response head"))),
    }
}

/// Sort a complete head's fields into the framing and reuse of the
/// message (RFC 9112 sections 6.1 and 6.3, RFC 9110 section 8.6).
fn head(response: &httparse::Response<'_, '_>) -> Result<Head, FramingError> {
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let mut headers = Vec::with_capacity(response.headers.len());
    let mut length: Option<u64> = None;
    let mut codings: Option<TransferCodings> = None;
    let mut close = false;
    let mut keep_alive = false;
    for field in response.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(field.value).into_owned();
        match name.as_str() {
            "content-length" => {
                // A list of equal values is one value (RFC 9110 section 8.6).
                for item in value.split(',') {
                    let item = item.trim();
                    let parsed = (!item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| item.parse::<u64>().ok())
                        .flatten()
                        .ok_or_else(|| {
                            FramingError::head(format!("invalid content-length {value:?}"))
                        })?;
                    if length.is_some_and(|seen| seen != parsed) {
                        return Err(FramingError::head("content-length fields that disagree"));
                    }
                    length = Some(parsed);
                }
            }
            // Several fields are one list, in order (RFC 9110 section 5.3).
            "transfer-encoding" => codings.get_or_insert_default().add(&value)?,
            "connection" => {
                for token in value.split(',') {
                    let token = token.trim();
                    close |= token.eq_ignore_ascii_case("close");
                    keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            }
            _ => {}
        }
        headers.push((name, value));
    }
    let mut reusable = !close && (!http10 || keep_alive);
    let coded = match codings {
        // Transfer codings came with HTTP/1.1; an HTTP/1.0 message that has
        // them was likely forwarded by something that did not decode them.
        // Section 6.1: "MUST treat the message as if the framing is faulty,
        // even if a Content-Length is present, and close the connection";
        // section 6.3 item 5 says what a user agent does with faulty
        // framing: "close the connection to the server and discard the
        // received response".
        Some(_) if http10 => {
            return Err(FramingError::head(
                "an HTTP/1.0 response with transfer-encoding, whose framing cannot be trusted",
            ))
        }
        Some(codings) => {
            // Transfer-Encoding overrides Content-Length, and a message
            // with both never leaves its connection reusable (section
            // 6.3 item 3).
            reusable &= length.is_none();
            Some(codings.framing()?)
        }
        None => None,
    };
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Done
    } else if let Some(framing) = coded {
        framing
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        reusable = false;
    }
    Ok(Head {
        status,
        headers,
        framing,
        reusable,
    })
}

/// The transfer codings of a response, field by field (RFC 9112
/// section 6.1, RFC 9110 section 10.1.4).
#[derive(Debug, Default)]
struct TransferCodings {
    /// Codings named so far.
    count: usize,
    /// `chunked` was named (it must be named once, and last).
    chunked: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &str) -> Result<(), FramingError> {
        let invalid = |why: &str| FramingError::head(format!("transfer-encoding {value:?} {why}"));
        for element in value.split(',') {
            // Empty list elements are ignored (RFC 9110 section 5.6.1).
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty() {
                continue;
            }
            let (name, parameters) = match element.split_once(';') {
                Some((name, parameters)) => (name.trim_end_matches([' ', '\t']), Some(parameters)),
                None => (element, None),
            };
            if !name.bytes().all(is_tchar) || name.is_empty() {
                return Err(invalid("is not a list of transfer codings"));
            }
            if self.chunked {
                // A sender MUST NOT apply chunked more than once, and it
                // frames the message only as the final coding (6.1).
                return Err(if name.eq_ignore_ascii_case("chunked") {
                    invalid("applies chunked more than once")
                } else {
                    invalid("has a coding after chunked, which must be the last")
                });
            }
            if name.eq_ignore_ascii_case("chunked") {
                // "The chunked coding does not define any parameters. Their
                // presence SHOULD be treated as an error." (section 7)
                if parameters.is_some() {
                    return Err(invalid("gives chunked parameters, which it has none of"));
                }
                self.chunked = true;
            }
            self.count += 1;
        }
        Ok(())
    }

    /// Chunked when `chunked` is the final coding; otherwise the body lasts
    /// until the server closes (section 6.3 item 4: "If a Transfer-Encoding
    /// header field is present in a response and the chunked transfer
    /// coding is not the final encoding, the message body length is
    /// determined by reading the connection until it is closed").
    fn framing(&self) -> Result<Framing, FramingError> {
        if self.count == 0 {
            return Err(FramingError::head(
                "a transfer-encoding that names no coding",
            ));
        }
        Ok(if self.chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        })
    }
}

/// How much [`BodyReader::read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used; the rest follows the body.
    pub consumed: usize,
    /// The body is complete.
    pub done: bool,
}

/// Reads one body, as its head framed it, out of the bytes it is fed.
#[derive(Debug, Clone)]
pub struct BodyReader {
    kind: BodyKind,
    /// Body bytes produced so far.
    received: u64,
    limit: u64,
}

#[derive(Debug, Clone)]
enum BodyKind {
    Done,
    Length { length: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl BodyReader {
    /// A reader for a body framed by `framing`, that fails with
    /// [`FramingError::TooLarge`] as soon as the body is known to exceed
    /// `limit` bytes: a length over the limit fails here, before any read.
    pub fn new(framing: Framing, limit: u64) -> Result<Self, FramingError> {
        let kind = match framing {
            Framing::Done => BodyKind::Done,
            Framing::Length(length) if length > limit => return Err(FramingError::TooLarge(limit)),
            Framing::Length(length) => BodyKind::Length { length },
            Framing::Chunked => BodyKind::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => BodyKind::UntilClose,
        };
        Ok(BodyReader {
            kind,
            received: 0,
            limit,
        })
    }

    /// The body's size when the head declared it: room to reserve.
    pub fn declared(&self) -> Option<u64> {
        match self.kind {
            BodyKind::Length { length } => Some(length),
            _ => None,
        }
    }

    /// Append the body bytes in `input` to `body`.
    ///
    /// Until the body is done, every byte of `input` is consumed; once it
    /// is, `consumed` stops at its end and the rest is not the body's.
    pub fn read(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Progress, FramingError> {
        let progress = match &mut self.kind {
            BodyKind::Done => Progress {
                consumed: 0,
                done: true,
            },
            BodyKind::Length { length } => {
                let owed = *length - self.received;
                let take = input.len().min(usize::try_from(owed).unwrap_or(usize::MAX));
                body.extend_from_slice(&input[..take]);
                self.received += take as u64;
                Progress {
                    consumed: take,
                    done: self.received == *length,
                }
            }
            BodyKind::Chunked(decoder) => {
                let progress = decoder.decode(input, body, self.limit)?;
                self.received = decoder.received;
                progress
            }
            BodyKind::UntilClose => {
                if self.received + input.len() as u64 > self.limit {
                    return Err(FramingError::TooLarge(self.limit));
                }
                body.extend_from_slice(input);
                self.received += input.len() as u64;
                Progress {
                    consumed: input.len(),
                    done: false,
                }
            }
        };
        debug_assert!(progress.done || progress.consumed == input.len());
        Ok(progress)
    }

    /// The bytes a length-framed body still owes, which the caller may read
    /// straight into the body and report with [`BodyReader::appended`];
    /// `None` for other framings, whose bytes go through [`BodyReader::read`].
    pub fn owed(&self) -> Option<u64> {
        match self.kind {
            BodyKind::Length { length } => Some(length - self.received),
            _ => None,
        }
    }

    /// `count` bytes, at most [`BodyReader::owed`], were appended to the
    /// body by the caller.
    pub fn appended(&mut self, count: usize) {
        if let BodyKind::Length { length } = self.kind {
            self.received = (self.received + count as u64).min(length);
        }
    }

    /// The server closed the connection and nothing more will come: fine
    /// for a body framed by the close, an error for any other unfinished.
    pub fn closed(&self) -> Result<(), FramingError> {
        match &self.kind {
            BodyKind::Done | BodyKind::UntilClose => Ok(()),
            BodyKind::Length { length } if self.received == *length => Ok(()),
            BodyKind::Length { length } => Err(FramingError::ShortBody {
                received: self.received,
                length: *length,
            }),
            BodyKind::Chunked(decoder) if decoder.state == Chunk::Done => Ok(()),
            BodyKind::Chunked(_) => Err(FramingError::UnfinishedChunks(self.received)),
        }
    }
}

/// Where a chunked decoder is (RFC 9112 section 7.1):
///
/// ```text
/// chunked-body = *chunk last-chunk trailer-section CRLF
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// chunk-size   = 1*HEXDIG
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-val = token / quoted-string
/// trailer-section = *( field-line CRLF )
/// ```
///
/// Lines end in CRLF: section 2.2 lets a recipient take a lone LF as a
/// line end only for the start line and fields of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At the start of a chunk-size line: a hex digit must come.
    SizeStart,
    /// In the hex digits of a chunk size.
    Size,
    /// Whitespace after the size or an extension's value: only `;` may
    /// follow.
    Space,
    /// After a `;`: whitespace, then an extension's name.
    ExtBefore,
    /// In an extension's name.
    ExtName,
    /// Whitespace after an extension's name: `=`, `;` or nothing else.
    ExtNameSpace,
    /// After `=`: whitespace, then a token or a quoted string.
    ExtBeforeValue,
    /// In an extension's token value.
    ExtToken,
    /// In an extension's quoted-string value.
    ExtQuoted,
    /// After a backslash in a quoted string.
    ExtQuotedPair,
    /// After a quoted string's closing quote.
    ExtQuotedEnd,
    /// After the CR that ends a chunk-size line.
    SizeLf,
    /// In a chunk's data.
    Data,
    /// After a chunk's data: its CR.
    DataCr,
    /// After a chunk's data and CR: its LF.
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value.
    TrailerValue,
    /// After the CR that ends a trailer line.
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

impl Chunk {
    fn in_size_line(self) -> bool {
        matches!(
            self,
            Chunk::SizeStart
                | Chunk::Size
                | Chunk::Space
                | Chunk::ExtBefore
                | Chunk::ExtName
                | Chunk::ExtNameSpace
                | Chunk::ExtBeforeValue
                | Chunk::ExtToken
                | Chunk::ExtQuoted
                | Chunk::ExtQuotedPair
                | Chunk::ExtQuotedEnd
                | Chunk::SizeLf
        )
    }

    fn in_trailers(self) -> bool {
        matches!(
            self,
            Chunk::TrailerStart
                | Chunk::TrailerName
                | Chunk::TrailerValue
                | Chunk::TrailerLf
                | Chunk::EndLf
        )
    }
}

/// The chunked coding's decoder: a state machine fed any split of the
/// body's bytes. Extensions are checked against the grammar and dropped;
/// trailer fields are checked as field lines and dropped.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunk,
    /// The size being read, then the bytes of the chunk's data to come.
    size: u64,
    /// Bytes of the current chunk-size line so far.
    line: usize,
    /// Bytes of the trailer section so far.
    trailers: usize,
    /// Bytes of the chunked body consumed so far.
    offset: u64,
    /// Data bytes produced so far.
    received: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: Chunk::SizeStart,
            size: 0,
            line: 0,
            trailers: 0,
            offset: 0,
            received: 0,
        }
    }

    /// Decode `input`, appending chunk data to `body`; fail with
    /// [`FramingError::TooLarge`] as soon as a chunk size takes the data
    /// past `limit` bytes. Until the last chunk's trailers end, all of
    /// `input` is consumed.
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limit: u64,
    ) -> Result<Progress, FramingError> {
        let mut at = 0;
        while at < input.len() && self.state != Chunk::Done {
            if self.state == Chunk::Data {
                let available = (input.len() - at) as u64;
                let take = available.min(self.size) as usize;
                body.extend_from_slice(&input[at..at + take]);
                at += take;
                self.size -= take as u64;
                self.offset += take as u64;
                self.received += take as u64;
                if self.size == 0 {
                    self.state = Chunk::DataCr;
                }
                continue;
            }
            self.step(input[at], body, limit)?;
            at += 1;
            self.offset += 1;
        }
        Ok(Progress {
            consumed: at,
            done: self.state == Chunk::Done,
        })
    }

    /// One byte outside a chunk's data.
    fn step(&mut self, byte: u8, body: &mut Vec<u8>, limit: u64) -> Result<(), FramingError> {
        let offset = self.offset;
        let bad = move |what: &'static str| FramingError::Chunked { offset, what };
        if self.state.in_size_line() {
            self.line += 1;
            if self.line > MAX_CHUNK_LINE {
                return Err(bad("a chunk-size line over 8 KiB"));
            }
        } else if self.state.in_trailers() {
            self.trailers += 1;
            if self.trailers > MAX_TRAILERS {
                return Err(bad("trailers over 64 KiB"));
            }
        }
        let space = byte == b' ' || byte == b'\t';
        self.state = match self.state {
            Chunk::SizeStart | Chunk::Size => match hex_value(byte) {
                Some(digit) => {
                    // More digits only make the size larger (leading
                    // zeros add nothing), so the limit is checked as they
                    // come; a size that overflows exceeds any limit.
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(u64::from(digit)))
                        .filter(|size| {
                            self.received
                                .checked_add(*size)
                                .is_some_and(|total| total <= limit)
                        })
                        .ok_or(FramingError::TooLarge(limit))?;
                    Chunk::Size
                }
                None if self.state == Chunk::SizeStart => {
                    // `+`, `-`, whitespace or nothing: chunk-size is
                    // 1*HEXDIG.
                    return Err(bad("a chunk size must start with a hex digit"));
                }
                None if space => Chunk::Space,
                None if byte == b';' => Chunk::ExtBefore,
                None if byte == b'\r' => Chunk::SizeLf,
                None => {
                    return Err(bad(
                        "a chunk size followed by something other than `;` or CRLF",
                    ))
                }
            },
            Chunk::Space => match byte {
                _ if space => Chunk::Space,
                b';' => Chunk::ExtBefore,
                _ => return Err(bad("whitespace in a chunk-size line not followed by `;`")),
            },
            Chunk::ExtBefore => match byte {
                _ if space => Chunk::ExtBefore,
                _ if is_tchar(byte) => Chunk::ExtName,
                _ => return Err(bad("a chunk extension without a name")),
            },
            Chunk::ExtName => match byte {
                _ if is_tchar(byte) => Chunk::ExtName,
                _ if space => Chunk::ExtNameSpace,
                b'=' => Chunk::ExtBeforeValue,
                b';' => Chunk::ExtBefore,
                b'\r' => Chunk::SizeLf,
                _ => return Err(bad("an invalid byte in a chunk extension's name")),
            },
            Chunk::ExtNameSpace => match byte {
                _ if space => Chunk::ExtNameSpace,
                b'=' => Chunk::ExtBeforeValue,
                b';' => Chunk::ExtBefore,
                _ => {
                    return Err(bad(
                        "a chunk extension's name followed by something other than `=` or `;`",
                    ))
                }
            },
            Chunk::ExtBeforeValue => match byte {
                _ if space => Chunk::ExtBeforeValue,
                b'"' => Chunk::ExtQuoted,
                _ if is_tchar(byte) => Chunk::ExtToken,
                _ => return Err(bad("a chunk extension without a value after `=`")),
            },
            Chunk::ExtToken => match byte {
                _ if is_tchar(byte) => Chunk::ExtToken,
                _ if space => Chunk::Space,
                b';' => Chunk::ExtBefore,
                b'\r' => Chunk::SizeLf,
                _ => return Err(bad("an invalid byte in a chunk extension's value")),
            },
            Chunk::ExtQuoted => match byte {
                b'"' => Chunk::ExtQuotedEnd,
                b'\\' => Chunk::ExtQuotedPair,
                // qdtext: HTAB, SP, VCHAR but `"` and `\`, obs-text.
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => Chunk::ExtQuoted,
                _ => {
                    return Err(bad(
                        "a control character in a chunk extension's quoted value",
                    ))
                }
            },
            Chunk::ExtQuotedPair => match byte {
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => Chunk::ExtQuoted,
                _ => {
                    return Err(bad(
                        "a control character in a chunk extension's quoted value",
                    ))
                }
            },
            Chunk::ExtQuotedEnd => match byte {
                _ if space => Chunk::Space,
                b';' => Chunk::ExtBefore,
                b'\r' => Chunk::SizeLf,
                _ => return Err(bad(
                    "a chunk extension's quoted value followed by something other than `;` or CRLF",
                )),
            },
            Chunk::SizeLf => match byte {
                b'\n' => {
                    self.line = 0;
                    if self.size == 0 {
                        Chunk::TrailerStart
                    } else {
                        // Within the limit, checked digit by digit.
                        body.reserve(self.size as usize);
                        Chunk::Data
                    }
                }
                _ => return Err(bad("a CR in a chunk-size line not followed by LF")),
            },
            Chunk::DataCr => match byte {
                b'\r' => Chunk::DataLf,
                _ => return Err(bad("a chunk is longer than its size")),
            },
            Chunk::DataLf => match byte {
                b'\n' => Chunk::SizeStart,
                _ => return Err(bad("a chunk's data not followed by CRLF")),
            },
            Chunk::TrailerStart => match byte {
                b'\r' => Chunk::EndLf,
                _ if is_tchar(byte) => Chunk::TrailerName,
                _ => return Err(bad("a trailer line that is not a field")),
            },
            Chunk::TrailerName => match byte {
                _ if is_tchar(byte) => Chunk::TrailerName,
                b':' => Chunk::TrailerValue,
                _ => return Err(bad("an invalid byte in a trailer field's name")),
            },
            Chunk::TrailerValue => match byte {
                b'\r' => Chunk::TrailerLf,
                // field-vchar, SP, HTAB, obs-text.
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => Chunk::TrailerValue,
                _ => return Err(bad("a control character in a trailer field's value")),
            },
            Chunk::TrailerLf => match byte {
                b'\n' => Chunk::TrailerStart,
                _ => return Err(bad("a CR in a trailer line not followed by LF")),
            },
            Chunk::EndLf => match byte {
                b'\n' => Chunk::Done,
                _ => return Err(bad("a CR at the end of the trailers not followed by LF")),
            },
            Chunk::Data | Chunk::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// A token character (RFC 9110 section 5.6.2).
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A whole response read by [`read_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The final response's head.
    pub head: Head,
    /// Its body.
    pub body: Vec<u8>,
    /// Bytes that came after the body (a connection that has any is never
    /// reused).
    pub trailing: usize,
}

/// Read one response from `pieces`, the reads of a connection that then
/// closes, with the body limited to `limit` bytes: the steps the exchange
/// in `http1.rs` takes on a socket, done on memory. For the fuzz target and
/// tests; the answer must not depend on how the bytes are split.
pub fn read_response<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    limit: u64,
) -> Result<Response, FramingError> {
    let mut pieces = pieces.into_iter();
    let mut buffer: Vec<u8> = Vec::new();
    let mut start = 0;
    let head = loop {
        match parse_head(&buffer[start..])? {
            Parsed::Interim(length) => start += length,
            Parsed::Final(head, length) => {
                start += length;
                break head;
            }
            Parsed::Partial => match pieces.next() {
                Some(piece) => buffer.extend_from_slice(piece),
                None => {
                    return Err(FramingError::head(
                        "the connection closed before the response head ended",
                    ))
                }
            },
        }
    };
    let mut reader = BodyReader::new(head.framing, limit)?;
    let mut body = Vec::new();
    loop {
        let progress = reader.read(&buffer[start..], &mut body)?;
        start += progress.consumed;
        if progress.done {
            break;
        }
        buffer.clear();
        start = 0;
        match pieces.next() {
            Some(piece) => buffer.extend_from_slice(piece),
            None => {
                reader.closed()?;
                break;
            }
        }
    }
    let trailing = buffer.len() - start + pieces.map(<[u8]>::len).sum::<usize>();
    Ok(Response {
        head,
        body,
        trailing,
    })
}

/// The invariants the fuzz target checks on arbitrary `data`, also run by
/// a seeded test: no panic; a body never exceeds its limit; a
/// length-framed body is exactly its length; a connection framed by its
/// close is never reusable; the same answer whether the bytes come in one
/// piece, in random pieces or a byte at a time; and a body chunk-encoded
/// by the rules decodes to itself.
///
/// The first bytes choose the limit, the mode and the split points.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn check_invariants(data: &[u8]) {
    let [mode, limit_low, limit_high, seed, rest @ ..] = data else {
        return;
    };
    let limit = u64::from(u16::from_le_bytes([*limit_low, *limit_high]));
    match mode % 3 {
        0 => check_response(rest, limit, *seed),
        1 => check_chunked(rest, limit, *seed),
        _ => check_round_trip(rest, *seed),
    }
}

/// Piece lengths from a small xorshift generator seeded by `seed`.
fn split(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let length = (state as usize % 16 + 1).min(rest.len());
        let (piece, tail) = rest.split_at(length);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

fn check_response(data: &[u8], limit: u64, seed: u8) {
    let whole = read_response([data], limit);
    if let Ok(response) = &whole {
        assert!(response.body.len() as u64 <= limit, "a body over the limit");
        if let Framing::Length(length) = response.head.framing {
            assert_eq!(response.body.len() as u64, length, "a body not its length");
        }
        if response.head.framing == Framing::UntilClose {
            assert!(
                !response.head.reusable,
                "a close-framed body on a reusable connection"
            );
        }
    }
    let pieces = read_response(split(data, seed), limit);
    assert_eq!(whole, pieces, "one piece and random pieces disagree");
    let bytes = read_response(data.chunks(1), limit);
    assert_eq!(whole, bytes, "one piece and single bytes disagree");
}

fn check_chunked(data: &[u8], limit: u64, seed: u8) {
    let decode = |pieces: Vec<&[u8]>| -> Result<(Vec<u8>, usize), FramingError> {
        let mut reader = BodyReader::new(Framing::Chunked, limit)?;
        let mut body = Vec::new();
        let mut consumed = 0;
        for piece in pieces {
            let progress = reader.read(piece, &mut body)?;
            assert!(body.len() as u64 <= limit, "a body over the limit");
            consumed += progress.consumed;
            if progress.done {
                return Ok((body, consumed));
            }
            assert_eq!(progress.consumed, piece.len(), "input left before the end");
        }
        reader.closed().map(|()| (body, consumed))
    };
    let whole = decode(vec![data]);
    assert_eq!(
        whole,
        decode(split(data, seed)),
        "one piece and random pieces disagree"
    );
    assert_eq!(
        whole,
        decode(data.chunks(1).collect()),
        "one piece and single bytes disagree"
    );
}

/// Encode `data` as chunks (sizes and extensions from `seed`), then decode.
fn check_round_trip(data: &[u8], seed: u8) {
    let mut encoded = Vec::new();
    for (index, chunk) in split(data, seed).into_iter().enumerate() {
        let extension = match (index + usize::from(seed)) % 4 {
            0 => "",
            1 => ";a",
            2 => " ; name = token",
            _ => ";q=\"quoted \\\" value\"",
        };
        let size = if index % 2 == 0 {
            format!("{:x}", chunk.len())
        } else {
            format!("00{:X}", chunk.len())
        };
        encoded.extend_from_slice(format!("{size}{extension}\r\n").as_bytes());
        encoded.extend_from_slice(chunk);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\nx-trailer: value\r\n\r\n");
    let mut reader = BodyReader::new(Framing::Chunked, data.len() as u64).expect("within limit");
    let mut body = Vec::new();
    let progress = reader
        .read(&encoded, &mut body)
        .unwrap_or_else(|error| panic!("a valid chunked body refused: {error}"));
    assert!(
        progress.done && progress.consumed == encoded.len(),
        "a valid chunked body unfinished"
    );
    assert_eq!(body, data, "a chunked body that does not decode to itself");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_head(text: &str) -> Result<Head, FramingError> {
        match parse_head(text.as_bytes())? {
            Parsed::Final(head, length) => {
                assert_eq!(length, text.len(), "the whole of {text:?} is the head");
                Ok(head)
            }
            other => panic!("not a final head: {other:?}"),
        }
    }

    fn framing(text: &str) -> (Framing, bool) {
        let head = final_head(text).unwrap_or_else(|error| panic!("{text:?}: {error}"));
        (head.framing, head.reusable)
    }

    fn refused(text: &str, says: &str) {
        match final_head(text) {
            Err(error) => assert!(error.to_string().contains(says), "{text:?}: {error}"),
            Ok(head) => panic!("{text:?} was accepted: {head:?}"),
        }
    }

    /// Decode a chunked body given in one piece.
    fn chunked(body: &[u8], limit: u64) -> Result<Vec<u8>, FramingError> {
        let mut reader = BodyReader::new(Framing::Chunked, limit)?;
        let mut out = Vec::new();
        let progress = reader.read(body, &mut out)?;
        if !progress.done {
            reader.closed()?;
        }
        assert_eq!(progress.consumed, body.len(), "bytes after {body:?}");
        Ok(out)
    }

    fn chunk_fault(body: &[u8], says: &str) {
        match chunked(body, 1 << 20) {
            Err(FramingError::Chunked { what, .. }) => {
                assert!(
                    what.contains(says),
                    "{:?}: {what}",
                    String::from_utf8_lossy(body)
                )
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn content_length_frames_the_body_and_copies_must_agree() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(framing(ok), (Framing::Length(5), true));
        // Equal repeated lengths are one (RFC 9110 section 8.6).
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(framing(ok), (Framing::Length(5), true));
        let two = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        refused(two, "content-length fields that disagree");
        for bad in ["+5", "-5", "0x5", "5 5", "", "99999999999999999999999"] {
            refused(
                &format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n"),
                "invalid content-length",
            );
        }
        // No length at all: until close, and the connection goes with it.
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            (Framing::UntilClose, false)
        );
    }

    #[test]
    fn transfer_encoding_overrides_content_length_and_spends_the_connection() {
        // RFC 9112 section 6.3 item 3.
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: Chunked\r\n\r\n";
        assert_eq!(framing(both), (Framing::Chunked, false));
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(chunked), (Framing::Chunked, true));
    }

    #[test]
    fn chunked_is_applied_once_and_last_without_parameters() {
        // RFC 9112 section 6.1: once, and the final coding; section 7: no
        // parameters.
        for (codings, says) in [
            ("chunked, chunked", "chunked more than once"),
            (
                "chunked\r\nTransfer-Encoding: chunked",
                "chunked more than once",
            ),
            ("gzip, chunked, chunked", "chunked more than once"),
            ("chunked, gzip", "after chunked"),
            ("chunked\r\nTransfer-Encoding: gzip", "after chunked"),
            ("chunked;q=1", "parameters"),
            ("chunked ; x", "parameters"),
            ("chun ked", "not a list"),
            ("\"chunked\"", "not a list"),
            ("", "names no coding"),
            (" , ", "names no coding"),
        ] {
            refused(
                &format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n"),
                says,
            );
        }
        // Chunked last after another coding, empty elements ignored.
        for codings in [
            "gzip, chunked",
            ", CHUNKED ,",
            "gzip\r\nTransfer-Encoding: chunked",
        ] {
            let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\n\r\n");
            assert_eq!(framing(&head), (Framing::Chunked, true), "{codings:?}");
        }
    }

    #[test]
    fn other_transfer_codings_are_read_until_the_close() {
        // RFC 9112 section 6.3 item 4, for a response.
        for codings in ["gzip", "identity", "gzip;level=1, br"] {
            let head = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: {codings}\r\nContent-Length: 3\r\n\r\n"
            );
            assert_eq!(framing(&head), (Framing::UntilClose, false), "{codings:?}");
        }
    }

    #[test]
    fn transfer_encoding_in_http_1_0_is_faulty_framing() {
        // RFC 9112 section 6.1, even with a Content-Length or keep-alive.
        for fields in [
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nContent-Length: 5",
            "Connection: keep-alive\r\nTransfer-Encoding: gzip\r\nContent-Length: 5",
        ] {
            refused(
                &format!("HTTP/1.0 200 OK\r\n{fields}\r\n\r\n"),
                "HTTP/1.0 response with transfer-encoding",
            );
        }
        let plain = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(plain), (Framing::Length(0), true));
        let plain = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(plain), (Framing::Length(0), false));
    }

    #[test]
    fn bodyless_statuses_connection_fields_and_names() {
        for status in ["204 No Content", "304 Not Modified"] {
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n");
            assert_eq!(framing(&head), (Framing::Done, true));
        }
        let close = "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(framing(close), (Framing::Length(0), false));
        let head = final_head(
            "HTTP/1.1 200 OK\r\nX-B: 2\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-b", "content-type", "x-a", "content-length"]);
        assert_eq!(head.headers[1].1, "text/plain");
    }

    #[test]
    fn interim_answers_are_skipped_and_heads_are_bounded() {
        let interim = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(parse_head(interim.as_bytes()), Ok(Parsed::Interim(40)));
        assert_eq!(parse_head(&interim.as_bytes()[40..]), Ok(Parsed::Partial));
        let switch = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
        assert!(parse_head(switch.as_bytes()).is_err());
        // A head over 64 KiB is refused whether or not its end has come.
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        let too_big = Err(FramingError::head("a response head larger than 64 KiB"));
        assert_eq!(parse_head(&big), too_big);
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&big), too_big);
        assert_eq!(parse_head(&big[..MAX_HEAD - 1]), Ok(Parsed::Partial));
    }

    #[test]
    fn chunk_sizes_are_hex_digits_then_extensions_only() {
        // RFC 9112 section 7.1: chunk-size = 1*HEXDIG, then [ chunk-ext ]
        // CRLF. `u64::from_str_radix` would take a leading `+`.
        let ok = |size: &str| chunked(format!("{size}\r\nhello\r\n0\r\n\r\n").as_bytes(), 100);
        for size in ["5", "05", "0000000000000000000005"] {
            assert_eq!(ok(size).unwrap(), b"hello", "{size:?}");
        }
        assert_eq!(
            chunked(b"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", 100)
                .unwrap()
                .len(),
            26
        );
        for size in ["+5", "-5", " 5", ";5", ""] {
            chunk_fault(
                format!("{size}\r\nhello\r\n0\r\n\r\n").as_bytes(),
                "must start with a hex digit",
            );
        }
        for size in ["0x5", "5x", "5-", "5\""] {
            chunk_fault(
                format!("{size}\r\nhello\r\n0\r\n\r\n").as_bytes(),
                "followed by something other than",
            );
        }
        // Whitespace after the digits only before a `;`.
        for size in ["5 ", "5\t", "5 x", "5 5"] {
            chunk_fault(
                format!("{size}\r\nhello\r\n0\r\n\r\n").as_bytes(),
                "not followed by `;`",
            );
        }
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        for extension in [
            ";a",
            ";a=b",
            " \t; a = b",
            ";a;b=c;d",
            ";a=\"quoted; \\\"value\\\"\"",
            ";a=\"\" ;b",
        ] {
            let body = format!("5{extension}\r\nhello\r\n0{extension}\r\n\r\n");
            assert_eq!(
                chunked(body.as_bytes(), 100).unwrap(),
                b"hello",
                "{extension:?}"
            );
        }
        for extension in [
            ";",
            ";=b",
            ";a=",
            ";a b",
            ";a=b c",
            ";a=\"open",
            ";a=\"\"x",
            ";a=b\"",
            ";a\u{0}",
        ] {
            let body = format!("5{extension}\r\nhello\r\n0\r\n\r\n");
            assert!(
                matches!(
                    chunked(body.as_bytes(), 100),
                    Err(FramingError::Chunked { .. })
                ),
                "{extension:?}"
            );
        }
    }

    #[test]
    fn chunked_lines_end_in_crlf_and_chunks_match_their_size() {
        chunk_fault(b"5\nhello\r\n0\r\n\r\n", "followed by something other than");
        chunk_fault(b"5\rhello\r\n0\r\n\r\n", "CR in a chunk-size line");
        chunk_fault(b"5\r\nhello\n0\r\n\r\n", "longer than its size");
        chunk_fault(b"5\r\nhello\r0\r\n\r\n", "not followed by CRLF");
        chunk_fault(b"5\r\nhello!\r\n0\r\n\r\n", "longer than its size");
        chunk_fault(b"5\r\nhello\r\n0\r\n\n", "not a field");
        chunk_fault(b"5\r\nhello\r\n0\r\n\r\r", "end of the trailers");
    }

    #[test]
    fn trailers_are_field_lines_and_bounded() {
        let body = b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Empty:\r\n\r\n";
        assert_eq!(chunked(body, 100).unwrap(), b"hello");
        chunk_fault(b"0\r\nnot a field\r\n\r\n", "name");
        chunk_fault(b"0\r\n folded\r\n\r\n", "not a field");
        chunk_fault(b"0\r\nX: a\x01b\r\n\r\n", "control character");
        chunk_fault(b"0\r\nX: a\nb\r\n\r\n", "control character");
        let mut many = b"0\r\n".to_vec();
        while many.len() < MAX_TRAILERS + 100 {
            many.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        many.extend_from_slice(b"\r\n");
        chunk_fault(&many, "trailers over 64 KiB");
    }

    #[test]
    fn chunked_bodies_are_bounded_by_the_limit_and_the_line_length() {
        let body = b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(chunked(body, 8).unwrap(), b"helloabc");
        // Refused at the size of the chunk that would pass the limit,
        // before its data.
        assert_eq!(
            chunked(b"5\r\nhello\r\n3\r\n", 7),
            Err(FramingError::TooLarge(7))
        );
        assert_eq!(
            chunked(b"ffffffffffffffffffff", u64::MAX),
            Err(FramingError::TooLarge(u64::MAX))
        );
        let mut long = vec![b'0'; MAX_CHUNK_LINE];
        long.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        chunk_fault(&long, "chunk-size line over 8 KiB");
        let mut long = b"5;a=\"".to_vec();
        long.resize(MAX_CHUNK_LINE + 10, b'x');
        chunk_fault(&long, "chunk-size line over 8 KiB");
    }

    #[test]
    fn a_body_ends_at_its_framing_and_a_close_ends_only_a_close_framed_one() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let read = read_response([&response[..]], 10).unwrap();
        assert_eq!((read.body.as_slice(), read.trailing), (&b"abc"[..], 5));
        let response =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nX";
        let read = read_response([&response[..]], 10).unwrap();
        assert_eq!((read.body.as_slice(), read.trailing), (&b"abc"[..], 1));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            read_response([&short[..]], 10),
            Err(FramingError::ShortBody {
                received: 3,
                length: 10
            })
        );
        let unfinished = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        assert_eq!(
            read_response([&unfinished[..]], 10),
            Err(FramingError::UnfinishedChunks(3))
        );
        let close = b"HTTP/1.1 200 OK\r\n\r\nall of this";
        assert_eq!(
            read_response([&close[..]], 11).unwrap().body,
            b"all of this"
        );
        assert_eq!(
            read_response([&close[..]], 10),
            Err(FramingError::TooLarge(10))
        );
        let long = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nall of this";
        assert_eq!(
            read_response([&long[..]], 10),
            Err(FramingError::TooLarge(10))
        );
    }
}
