//! Bad input: every rejected request answers 400/404/409 with a message that says what is wrong,
//! and leaves the catalog exactly as it was.

use serde_json::json;

use crate::common::{assert_error, daemon, fixture, snapshot};

#[tokio::test]
async fn bad_requests_change_nothing() {
    let d = daemon().await;
    let f = fixture(&d, "v").await;
    let before = snapshot(&d).await;
    let missing = uuid::Uuid::new_v4();
    let job = |over: serde_json::Value| {
        let mut base = json!({"name": "j", "store": f.store, "target": f.target,
                              "retention": f.retention, "schedule": f.schedule, "paused": false});
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    };

    // (method, path, body, status, message fragment)
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        ("POST", "/v1/schedules".into(), "{\"name\": \"x\",".into(), 400, "invalid request body"),
        ("POST", "/v1/schedules".into(), "".into(), 400, "request body is empty"),
        ("POST", "/v1/schedules".into(), "[]".into(), 400, "invalid request body"),
        ("POST", "/v1/schedules".into(), json!({"name": "x"}).to_string(), 400, "missing field `when`"),
        ("POST", "/v1/schedules".into(), json!({"name": "x", "when": "daily at 25:00"}).to_string(), 400, "hour 25 is out of range"),
        ("POST", "/v1/schedules".into(), json!({"name": "x", "when": "whenever"}).to_string(), 400, "'whenever' does not start a schedule"),
        ("POST", "/v1/schedules".into(), json!({"name": "", "when": "daily 4am"}).to_string(), 400, "name must not be empty"),
        ("POST", "/v1/schedules".into(), json!({"name": "x", "when": "daily 4am", "timespec": "y"}).to_string(), 400, "unknown field `timespec`"),
        ("POST", "/v1/schedules".into(), json!({"name": 5, "when": "daily 4am"}).to_string(), 400, "at 'name': invalid type"),
        ("PUT", format!("/v1/schedule/{}", f.schedule), json!({"name": "x", "when": "daily 4am"}).to_string(), 400, "missing field `summary`"),
        ("PUT", format!("/v1/schedule/{}", f.schedule), json!({"name": "x", "summary": "s", "when": "6th monday at 4am"}).to_string(), 400, "week-of-month 6"),
        ("PUT", format!("/v1/schedule/{missing}"), json!({"name": "x", "summary": "s", "when": "daily 4am"}).to_string(), 404, "does not exist"),
        ("PUT", "/v1/schedule/not-a-uuid".into(), json!({"name": "x", "summary": "s", "when": "daily 4am"}).to_string(), 400, "not a valid schedule UUID"),
        ("POST", "/v1/retention".into(), json!({"name": "x", "expires": 3599}).to_string(), 400, "at least 3600 seconds"),
        ("POST", "/v1/retention".into(), json!({"name": "x", "expires": "1d"}).to_string(), 400, "at 'expires': invalid type"),
        ("POST", "/v1/retention".into(), json!({"name": "x", "expires": 1e20}).to_string(), 400, "invalid"),
        ("PUT", format!("/v1/retention/{}", f.retention), json!({"name": "x", "expires": 7200}).to_string(), 400, "missing field `summary`"),
        ("PUT", format!("/v1/retention/{}", f.retention), json!({"name": "x", "summary": "", "expires": 60}).to_string(), 400, "at least 3600"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": "{}"}).to_string(), 400, "missing field `agent`"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": "[1]", "agent": "h:1"}).to_string(), 400, "endpoint must be a JSON object, not an array"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": "{oops", "agent": "h:1"}).to_string(), 400, "endpoint is not valid JSON"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": 42, "agent": "h:1"}).to_string(), 400, "at 'endpoint'"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "Bad Plugin", "endpoint": "{}", "agent": "h:1"}).to_string(), 400, "not a valid plugin name"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": "{}", "agent": "nowhere"}).to_string(), 400, "neither 'local' (the daemon's host) nor a host:port address"),
        ("POST", "/v1/targets".into(), json!({"name": "x", "plugin": "fs", "endpoint": {"password": "<redacted>"}, "agent": "h:1"}).to_string(), 400, "no value is stored"),
        ("PUT", format!("/v1/target/{}", f.target), json!({"name": "x", "plugin": "fs", "endpoint": "{}", "agent": "h:1"}).to_string(), 400, "missing field `summary`"),
        ("PUT", format!("/v1/target/{}", f.target), json!({"name": "x", "summary": "", "plugin": "fs", "endpoint": {"token": "<redacted>"}, "agent": "h:1"}).to_string(), 400, "no value is stored"),
        ("POST", "/v1/stores".into(), json!({"name": "x", "plugin": "fs"}).to_string(), 400, "missing field `endpoint`"),
        ("POST", "/v1/stores".into(), json!({"name": "x", "plugin": "fs", "endpoint": "null"}).to_string(), 400, "not null"),
        ("PUT", format!("/v1/store/{}", f.store), json!({"name": "x", "plugin": "fs", "endpoint": "{}"}).to_string(), 400, "missing field `summary`"),
        ("PUT", format!("/v1/store/{missing}"), json!({"name": "x", "summary": "", "plugin": "fs", "endpoint": "{}"}).to_string(), 404, "does not exist"),
        ("POST", "/v1/jobs".into(), job(json!({"paused": null})).to_string(), 400, "missing field `paused`"),
        ("POST", "/v1/jobs".into(), job(json!({"store": missing})).to_string(), 400, &*Box::leak(format!("store {missing} does not exist").into_boxed_str())),
        ("POST", "/v1/jobs".into(), job(json!({"target": missing})).to_string(), 400, "target"),
        ("POST", "/v1/jobs".into(), job(json!({"schedule": missing})).to_string(), 400, "schedule"),
        ("POST", "/v1/jobs".into(), job(json!({"retention": missing})).to_string(), 400, "retention policy"),
        ("POST", "/v1/jobs".into(), job(json!({"store": "nope"})).to_string(), 400, "at 'store'"),
        ("POST", "/v1/jobs".into(), job(json!({"priority": 101})).to_string(), 400, "priority must be 0 (highest) to 100"),
        ("POST", "/v1/jobs".into(), job(json!({"paused": "no"})).to_string(), 400, "at 'paused'"),
        ("PUT", format!("/v1/job/{}", f.job), job(json!({"summary": "s"})).to_string(), 400, "paused cannot be changed by an update"),
        ("PUT", format!("/v1/job/{}", f.job), job(json!({"paused": null})).to_string(), 400, "missing field `summary`"),
        ("PUT", format!("/v1/job/{}", f.job), job(json!({"paused": null, "summary": "s", "schedule": missing})).to_string(), 400, "does not exist"),
        ("PUT", format!("/v1/job/{missing}"), job(json!({"paused": null, "summary": "s"})).to_string(), 404, "does not exist"),
        ("GET", "/v1/jobs?paused=maybe".into(), "".into(), 400, "paused must be t or f"),
        ("GET", "/v1/jobs?target=123".into(), "".into(), 400, "not a valid target UUID"),
        ("GET", "/v1/schedules?unused=sometimes".into(), "".into(), 400, "unused must be t or f"),
        ("GET", "/v1/targets?unsued=t".into(), "".into(), 400, "unknown field `unsued`"),
        ("DELETE", format!("/v1/schedule/{missing}"), "".into(), 404, "does not exist"),
        ("DELETE", format!("/v1/retention/{missing}"), "".into(), 404, "does not exist"),
        ("DELETE", format!("/v1/target/{missing}"), "".into(), 404, "does not exist"),
        ("DELETE", format!("/v1/store/{missing}"), "".into(), 404, "does not exist"),
        ("DELETE", format!("/v1/job/{missing}"), "".into(), 404, "does not exist"),
        ("GET", format!("/v1/job/{missing}"), "".into(), 404, "does not exist"),
        ("GET", format!("/v1/archive/{missing}"), "".into(), 404, "does not exist"),
    ];
    for (method, path, body, status, needle) in cases {
        let answer = d.raw(method, &path, &body).await.unwrap();
        assert_eq!(answer.0, status, "{method} {path} {body} -> {}", answer.1);
        assert_error(answer, status, needle);
        assert_eq!(
            snapshot(&d).await,
            before,
            "{method} {path} {body} changed the catalog"
        );
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused() {
    // An HTML form or a `text/plain` fetch cannot send application/json: such bodies are a 415
    // and change nothing (curl users add -H 'Content-Type: application/json').
    let d = daemon().await;
    let before = snapshot(&d).await;
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let res = d
            .bare(reqwest::Method::POST, "/v1/schedules")
            .bearer_auth(d.token())
            .header("content-type", ct)
            .body(r#"{"name":"n","when":"hourly at :15"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415, "{ct}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("application/json"),
            "{body}"
        );
    }
    assert_eq!(snapshot(&d).await, before);
}

#[tokio::test]
async fn the_document_states_the_limits_the_api_enforces() {
    let d = crate::common::daemon().await;
    let doc = d.get_ok("/v1/openapi.json").await.unwrap();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    // Names: not blank, at most 200 characters, no control characters.
    let name = &schema("CreateSchedule")["properties"]["name"];
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], 200);
    assert!(
        name["pattern"]
            .as_str()
            .unwrap()
            .contains("\\u0000-\\u001F"),
        "{name}"
    );
    assert_eq!(
        schema("CreateJob")["properties"]["priority"]["maximum"],
        100
    );
    // The shortest retention is the configured one (the test daemons lower nothing: 3600).
    assert_eq!(
        schema("CreateRetention")["properties"]["expires"]["minimum"],
        3600
    );
    assert!(schema("CheckRequest")["properties"]["read_data"]["pattern"].is_string());
    // A malformed UUID in a path is a documented 400.
    assert!(doc["paths"]["/v1/job/{uuid}"]["get"]["responses"]["400"].is_object());
    // What the document says, the API does: an array is not an object, 3600.0 is 3600 seconds.
    let (s, body) = d
        .raw("POST", "/v1/schedules", r#"["n", "daily at 4am"]"#)
        .await
        .unwrap();
    assert_error((s, body), 400, "must be a JSON object");
    let made = d
        .post_ok("/v1/retention", &json!({"name": "hour", "expires": 3600.0}))
        .await
        .unwrap();
    let r = d
        .get_ok(&format!("/v1/retention/{}", made["uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(r["expires"], 3600);
    let (s, body) = d
        .post("/v1/retention", &json!({"name": "half", "expires": 3600.5}))
        .await
        .unwrap();
    assert_error((s, body), 400, "not a whole number");
}
