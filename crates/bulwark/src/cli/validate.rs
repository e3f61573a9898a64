//! `bulwark validate target REF` and `validate store REF`: the plugin's `validate` on a stored
//! endpoint, through the daemon (which holds the secrets); nothing is touched.

use std::process::ExitCode;

use clap::ValueEnum;

use super::{Client, Conn, Kind, encode, finish, print_json, text};

/// What to validate.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum Validatable {
    Target,
    Store,
}

/// `bulwark validate target|store REF`: exit 0 when the endpoint works (or the plugin cannot
/// tell), 1 when it does not.
pub fn validate(what: Validatable, reference: &str, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (kind, item) = match what {
            Validatable::Target => (Kind::Target, "/v1/target/"),
            Validatable::Store => (Kind::Store, "/v1/store/"),
        };
        let found = c.resolve(kind, reference)?;
        let uuid = text(&found["uuid"]);
        let v = c.send(
            reqwest13::Method::POST,
            &format!("{item}{}/validate", encode(&uuid)),
            None,
        )?;
        if conn.json {
            print_json(&v);
        } else {
            let verdict = match v["valid"].as_bool() {
                Some(true) => "works",
                Some(false) => "does NOT work",
                None => "cannot be checked (the plugin has no validate)",
            };
            println!(
                "{} '{}': the endpoint {verdict}",
                kind_word(what),
                text(&found["name"])
            );
            let said = text(&v["output"]);
            if !said.trim().is_empty() {
                println!("{}", said.trim_end());
            }
            println!("({})", text(&v["exit"]));
        }
        if v["valid"] == false {
            return Err(format!("the {} endpoint does not work", kind_word(what)));
        }
        Ok(())
    })())
}

fn kind_word(w: Validatable) -> &'static str {
    match w {
        Validatable::Target => "target",
        Validatable::Store => "store",
    }
}
