//! What a round produces: task lines stored with the schedule, a URL
//! template over a numeric range (`https://api.example.com/music/{1..1000000}`),
//! or a file of task lines read at each fire.
//!
//! A round is produced from a *cursor*, a position in its source (the index
//! in the lines or the range, the line number in the file), so that a host
//! that adopts a half-produced round continues where the last chunk ended.
//! Ranges are generated lazily: nothing holds a whole round in memory.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::ScheduleError;
use crate::task::{check_url, Task};

/// A round's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// These task lines (bare URLs or JSON tasks), e.g. a root task whose
    /// plugin fans out through follow-ups.
    Tasks {
        /// The lines.
        lines: Vec<String>,
    },
    /// One URL per number of a range written `{FIRST..LAST}` in the URL.
    Range {
        /// The URL with its range.
        template: String,
    },
    /// The task lines of a file, read when the round is produced (by any
    /// host: each must see the file at this path).
    File {
        /// The file's path.
        path: String,
    },
}

/// A URL template split at its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    first: u64,
    last: u64,
    suffix: String,
}

impl Template {
    /// Parse `…{FIRST..LAST}…`: exactly one range, FIRST ≤ LAST, and a URL
    /// that is valid with the numbers in it.
    pub fn parse(template: &str) -> Result<Template, ScheduleError> {
        let bad = |why: &str| {
            ScheduleError::Source(format!(
                "invalid URL template `{template}`: {why}; write one range such as https://api.example.com/music/{{1..1000000}}"
            ))
        };
        let open = template
            .find('{')
            .ok_or_else(|| bad("it has no {FIRST..LAST} range"))?;
        let close = template[open..]
            .find('}')
            .map(|i| open + i)
            .ok_or_else(|| bad("its `{` is not closed"))?;
        if template[close + 1..].contains(['{', '}']) {
            return Err(bad("it has more than one range"));
        }
        let (first, last) = template[open + 1..close]
            .split_once("..")
            .ok_or_else(|| bad("the range must be written FIRST..LAST"))?;
        let number = |text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| bad(&format!("`{text}` is not a whole number")))
        };
        let (first, last) = (number(first)?, number(last)?);
        if first > last {
            return Err(bad("FIRST is greater than LAST"));
        }
        let parsed = Template {
            prefix: template[..open].to_owned(),
            first,
            last,
            suffix: template[close + 1..].to_owned(),
        };
        check_url(&parsed.url(0)).map_err(|e| bad(&e.to_string()))?;
        Ok(parsed)
    }

    /// How many URLs.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never empty (FIRST ≤ LAST); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The URL at `index` (0-based).
    pub fn url(&self, index: u64) -> String {
        format!("{}{}{}", self.prefix, self.first + index, self.suffix)
    }
}

/// A task of a round with its place in the source.
pub struct Produced {
    /// The cursor after this task.
    pub next: u64,
    /// The task; `Err` for a line that is not a task (the message says why).
    pub task: Result<Task, String>,
}

/// The tasks of a round from a cursor, one by one.
pub type Tasks = Box<dyn Iterator<Item = Produced> + Send>;

impl Source {
    /// Check the source now, as far as it can be without reading a file.
    pub fn check(&self) -> Result<(), ScheduleError> {
        match self {
            Source::Tasks { lines } => {
                if lines.is_empty() {
                    return Err(ScheduleError::Source(
                        "a schedule needs something to produce: give --task, --urls or --input"
                            .into(),
                    ));
                }
                for (n, line) in lines.iter().enumerate() {
                    match Task::parse_line(line) {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            return Err(ScheduleError::Source(format!(
                                "--task {}: the line is empty or a comment",
                                n + 1
                            )))
                        }
                        Err(e) => {
                            return Err(ScheduleError::Source(format!("--task {}: {e}", n + 1)))
                        }
                    }
                }
                Ok(())
            }
            Source::Range { template } => Template::parse(template).map(|_| ()),
            Source::File { path } => {
                if std::path::Path::new(path).is_absolute() {
                    Ok(())
                } else {
                    Err(ScheduleError::Source(format!(
                        "--input `{path}`: give an absolute path (the file is read by whichever host produces the round)"
                    )))
                }
            }
        }
    }

    /// How many positions the source has (lines of a file included blank
    /// ones), which spreads the round's tasks over `--spread`. Reads a file
    /// through once.
    pub fn size(&self) -> Result<u64, ScheduleError> {
        match self {
            Source::Tasks { lines } => Ok(lines.len() as u64),
            Source::Range { template } => Ok(Template::parse(template)?.len()),
            Source::File { path } => {
                let file = open(path)?;
                let mut lines = 0u64;
                for line in std::io::BufReader::new(file).split(b'\n') {
                    line.map_err(|e| read_error(path, &e))?;
                    lines += 1;
                }
                Ok(lines)
            }
        }
    }

    /// The tasks from `cursor` on. Ids are the round's (`ROUND#POSITION`),
    /// so a task keeps its id whichever host produces it.
    pub fn tasks_from(&self, round: &str, cursor: u64) -> Result<Tasks, ScheduleError> {
        let round = round.to_owned();
        let id = move |position: u64| format!("{round}#{position}");
        Ok(match self {
            Source::Tasks { lines } => {
                let lines = lines.clone();
                Box::new((cursor..lines.len() as u64).map(move |position| Produced {
                    next: position + 1,
                    task: line_task(&lines[position as usize], id(position)),
                }))
            }
            Source::Range { template } => {
                let template = Template::parse(template)?;
                Box::new((cursor..template.len()).map(move |position| {
                    let mut task = Task::new(template.url(position));
                    task.id = id(position);
                    Produced {
                        next: position + 1,
                        task: Ok(task),
                    }
                }))
            }
            Source::File { path } => {
                let reader = std::io::BufReader::new(open(path)?);
                let path = path.clone();
                Box::new(reader.split(b'\n').enumerate().skip(cursor as usize).map(
                    move |(position, line)| {
                        let position = position as u64;
                        let task = match line {
                            Ok(bytes) => match String::from_utf8(bytes) {
                                Ok(line) => line_task(&line, id(position)),
                                Err(_) => Err("the line is not UTF-8".to_owned()),
                            },
                            Err(e) => Err(read_error(&path, &e).to_string()),
                        };
                        Produced {
                            next: position + 1,
                            task,
                        }
                    },
                ))
            }
        })
    }
}

/// A line as a round's task with id `id`; blank lines and comments are
/// `Err("")`, which the producer passes over silently.
fn line_task(line: &str, id: String) -> Result<Task, String> {
    match Task::parse_line(line) {
        Ok(Some(mut task)) => {
            if task.url == format!("inline:{}", task.id) {
                task.url = format!("inline:{id}");
            }
            task.id = id;
            Ok(task)
        }
        Ok(None) => Err(String::new()),
        Err(e) => Err(e.to_string()),
    }
}

fn open(path: &str) -> Result<std::fs::File, ScheduleError> {
    std::fs::File::open(path).map_err(|e| {
        ScheduleError::Source(format!(
            "cannot open the schedule's input file {path}: {e} (it must exist on every host that may produce a round)"
        ))
    })
}

fn read_error(path: &str, e: &std::io::Error) -> ScheduleError {
    ScheduleError::Source(format!("reading the schedule's input file {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_range_is_generated_lazily_from_any_cursor() {
        let source = Source::Range {
            template: "https://api.example.com/music/{7..1000006}?full=1".into(),
        };
        assert_eq!(source.size().expect("size"), 1_000_000);
        let mut tasks = source.tasks_from("r@1", 999_998).expect("tasks");
        let produced = tasks.next().expect("a task");
        let task = produced.task.expect("valid");
        assert_eq!(task.url, "https://api.example.com/music/1000005?full=1");
        assert_eq!((task.id.as_str(), produced.next), ("r@1#999998", 999_999));
        assert!(tasks.next().is_some());
        assert!(tasks.next().is_none(), "the range ends at LAST");
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        for (template, says) in [
            ("https://e.com/music/1", "no {FIRST..LAST}"),
            ("https://e.com/{1..5}/{1..2}", "more than one range"),
            ("https://e.com/{5..1}", "greater than LAST"),
            ("https://e.com/{a..5}", "`a` is not a whole number"),
            ("https://e.com/{1-5}", "FIRST..LAST"),
            ("ftp://e.com/{1..5}", "invalid URL"),
        ] {
            let error = Template::parse(template).expect_err(template).to_string();
            assert!(error.contains(says), "{template}: {error}");
        }
    }

    #[test]
    fn a_file_is_read_from_its_cursor_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tasks.txt");
        std::fs::write(
            &path,
            "https://e.com/1\n# a comment\nnot a url\n{\"url\":\"https://e.com/4\",\"plugin\":\"p\"}\n",
        )
        .expect("write");
        let source = Source::File {
            path: path.display().to_string(),
        };
        assert_eq!(source.size().expect("size"), 4);
        let from_one: Vec<Produced> = source.tasks_from("f@9", 1).expect("open").collect();
        assert_eq!(from_one.len(), 3);
        assert_eq!(
            from_one[0].task.as_ref().err().map(String::as_str),
            Some("")
        );
        assert!(from_one[1]
            .task
            .as_ref()
            .is_err_and(|e| e.contains("not a url")));
        let last = from_one[2].task.as_ref().expect("a task");
        assert_eq!(
            (last.id.as_str(), last.url.as_str(), from_one[2].next),
            ("f@9#3", "https://e.com/4", 4)
        );
        let missing = Source::File {
            path: "/nonexistent/tasks.txt".into(),
        };
        let error = missing.size().expect_err("missing").to_string();
        assert!(error.contains("cannot open"), "{error}");
    }
}
