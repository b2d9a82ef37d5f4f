//! Layered configuration: command-line flags over `S3GATE_*` environment variables over the
//! TOML file named by `--config` over the built-in defaults.
//!
//! The clap definitions are the single source of truth. Every option of a command is a key of
//! the file, named after the option's field (`data_dir`, `tls_cert`, ...; `-` works as well as
//! `_`). A file value is applied only where clap saw neither a flag nor an environment variable:
//! it is turned back into a flag (`--data-dir=VALUE`) and the command line is parsed again, so
//! a file value goes through exactly the validation of a flag, and an error names the option.
//! A flattened clap `Args` struct added to `ServeArgs` (a backend or metadata option group) is
//! therefore a part of the file with no further code.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

/// Arguments that are actions or the file itself, never keys of the file.
const NOT_IN_FILE: &[&str] = &["config", "help", "version", "print_config"];

/// The parsed command line with the file applied, and which options the file supplied.
pub(crate) struct Loaded<T> {
    pub(crate) cli: T,
    /// The leaf subcommand's matches (after the file was applied).
    pub(crate) matches: ArgMatches,
    /// Ids of the options whose value came from the file.
    pub(crate) from_file: BTreeSet<String>,
}

/// Parses `argv`, applying the `--config` file of the invoked (sub)command. Exits on `--help`,
/// `--version` and usage errors, as clap does.
pub(crate) fn load<T: CommandFactory + FromArgMatches>(
    argv: Vec<OsString>,
) -> anyhow::Result<Loaded<T>> {
    let cmd = T::command();
    let matches = cmd.clone().try_get_matches_from(&argv).unwrap_or_else(|e| e.exit());
    let (path, leaf_cmd, leaf_matches) = leaf(&cmd, &matches);
    let config_file = if leaf_cmd.get_arguments().any(|a| a.get_id() == "config") {
        leaf_matches.get_one::<std::path::PathBuf>("config").cloned()
    } else {
        None
    };
    let Some(file) = config_file else {
        let cli = T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        return Ok(Loaded { cli, matches: leaf_matches.clone(), from_file: BTreeSet::new() });
    };
    let table = read_table(&file)?;
    let serve = cmd.find_subcommand("serve");
    let mut extra: Vec<OsString> = Vec::new();
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let arg = leaf_cmd
            .get_arguments()
            .find(|a| a.get_id() == id.as_str() && !NOT_IN_FILE.contains(&id.as_str()));
        let Some(arg) = arg else {
            // A shared file holds the gateway's options; other commands ignore the ones they
            // do not have, but a key no command knows is a mistake worth stopping for.
            let known_by_serve = serve.is_some_and(|s| {
                s.get_arguments().any(|a| a.get_id() == id.as_str() && a.get_long().is_some())
            });
            if known_by_serve && !NOT_IN_FILE.contains(&id.as_str()) {
                continue;
            }
            bail!(
                "{}: unknown option `{key}` (`s3gate config print-default` lists every option)",
                file.display()
            );
        };
        let Some(long) = arg.get_long() else {
            bail!("{}: `{key}` is an argument, not an option", file.display());
        };
        if matches!(
            leaf_matches.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let what = || format!("{}: option `{key}`", file.display());
        // `key = ""` leaves an option without a default unset (print-default writes it so).
        if arg.get_default_values().is_empty()
            && matches!(value, toml::Value::String(v) if v.is_empty())
        {
            continue;
        }
        if let ArgAction::SetTrue = arg.get_action() {
            match value {
                toml::Value::Boolean(true) => extra.push(format!("--{long}").into()),
                toml::Value::Boolean(false) => {}
                _ => bail!("{}: expected true or false", what()),
            }
        } else {
            let values = match value {
                toml::Value::Array(items) => items.iter().collect(),
                v => vec![v],
            };
            for v in values {
                let text = scalar(v).with_context(what)?;
                extra.push(format!("--{long}={text}").into());
            }
        }
        from_file.insert(id);
    }
    let mut full = argv;
    full.extend(extra);
    let matches = match cmd.clone().try_get_matches_from(&full) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.exit(),
        Err(e) => {
            let msg = e.render().to_string();
            // clap's advice to try --help does not help with a file.
            let msg = msg.split("\n\nFor more information").next().unwrap_or_default();
            let msg = msg.trim_end().trim_start_matches("error: ");
            bail!("{} (value from {}): {msg}", path.join(" "), file.display());
        }
    };
    let cli = T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (_, _, leaf_matches) = leaf(&cmd, &matches);
    Ok(Loaded { cli, matches: leaf_matches.clone(), from_file })
}

/// The invoked leaf subcommand: its name path, definition and matches.
fn leaf<'a>(
    cmd: &'a clap::Command,
    matches: &'a ArgMatches,
) -> (Vec<String>, &'a clap::Command, &'a ArgMatches) {
    let mut path = vec![cmd.get_name().to_owned()];
    let mut c = cmd;
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        let Some(next) = c.find_subcommand(name) else { break };
        path.push(name.to_owned());
        c = next;
        m = sub;
    }
    (path, c, m)
}

fn read_table(file: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading config file {}", file.display()))?;
    text.parse::<toml::Table>().map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

fn scalar(v: &toml::Value) -> anyhow::Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            bail!("expected a string, number or boolean (or a list of them)")
        }
    })
}

/// The effective settings of a command as TOML, each with where its value came from.
pub(crate) fn effective(
    cmd: &clap::Command,
    matches: &ArgMatches,
    from_file: &BTreeSet<String>,
) -> String {
    let mut out = String::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_IN_FILE.contains(&id) || arg.get_long().is_none() {
            continue;
        }
        let source = if from_file.contains(id) {
            "file"
        } else {
            match matches.value_source(id) {
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) => "env",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            }
        };
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let value = render(arg, &values);
        if source == "unset" {
            let _ = writeln!(out, "# {id} = {value}  # unset");
        } else {
            let _ = writeln!(out, "{id} = {value}  # {source}");
        }
    }
    out
}

/// `s3gate config print-default`: every option of `serve`, commented, with its environment
/// variable and default, as a valid TOML file once uncommented.
pub(crate) fn print_default(serve: &clap::Command) -> String {
    let mut out = String::from(
        "# s3gate configuration file (TOML). Use it with `s3gate serve --config FILE`.\n\
         # Precedence: command-line flags, then S3GATE_* environment variables, then this\n\
         # file, then the defaults shown here. Every key is optional.\n",
    );
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_IN_FILE.contains(&id) || arg.get_long().is_none() || arg.is_hide_set() {
            continue;
        }
        out.push('\n');
        let help =
            arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
        for line in wrap(&help, 96) {
            let _ = writeln!(out, "# {line}");
        }
        let mut meta = format!("--{}", arg.get_long().unwrap_or_default());
        if let Some(env) = arg.get_env() {
            let _ = write!(meta, ", env {}", env.to_string_lossy());
        }
        let possible = arg.get_possible_values();
        if !possible.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue) {
            let names: Vec<&str> =
                possible.iter().map(clap::builder::PossibleValue::get_name).collect();
            let _ = write!(meta, "; one of: {}", names.join(", "));
        }
        let _ = writeln!(out, "# ({meta})");
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let value = match arg.get_action() {
            ArgAction::SetTrue => "false".to_owned(),
            _ if defaults.is_empty() && !matches!(arg.get_action(), ArgAction::Append) => {
                let _ = writeln!(out, "# (no default)");
                "\"\"".to_owned()
            }
            _ => render(arg, &defaults),
        };
        let _ = writeln!(out, "#{id} = {value}");
    }
    out
}

/// A TOML value for an option's raw values: a list for repeatable options, a bare number or
/// boolean where the text is one, a quoted string otherwise.
fn render(arg: &clap::Arg, values: &[String]) -> String {
    let one = |v: &str| {
        // A number only where TOML reads the text as one: `000000000000` (an account id) is a
        // string, since TOML refuses leading zeros.
        let toml_reads = || format!("v = {v}").parse::<toml::Table>().is_ok();
        if (v.parse::<i64>().is_ok() || v.parse::<f64>().is_ok_and(f64::is_finite)) && toml_reads()
            || v == "true"
            || v == "false"
        {
            v.to_owned()
        } else {
            toml_string(v)
        }
    };
    if matches!(arg.get_action(), ArgAction::Append) {
        let items: Vec<String> = values.iter().map(|v| one(v)).collect();
        format!("[{}]", items.join(", "))
    } else {
        values.first().map_or_else(|| "\"\"".to_owned(), |v| one(v))
    }
}

/// Words of `text` in lines of at most `width` characters (longer words stand alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn help_is_wrapped_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("a\nb", 80), vec!["a", "b"]);
    }

    #[test]
    fn scalars_become_flag_text() {
        assert_eq!(scalar(&toml::Value::Integer(5)).unwrap(), "5");
        assert_eq!(scalar(&toml::Value::String("x".into())).unwrap(), "x");
        assert!(scalar(&toml::Value::Table(toml::Table::new())).is_err());
    }
}
