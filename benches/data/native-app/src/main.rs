use clap::Parser;

/// Parses key=value pairs and prints them as JSON and TOML.
#[derive(Parser)]
struct Args {
    /// Input like `a=1 b=2`.
    #[arg(default_value = "a=1 b=2")]
    input: String,
    /// A URL to normalise.
    #[arg(long, default_value = "https://example.com/a/../b?x=1")]
    url: String,
}

fn main() {
    let args = Args::parse();
    let re = regex::Regex::new(r"(\w+)=(\d+)").expect("regex");
    let mut map = serde_json::Map::new();
    for c in re.captures_iter(&args.input) {
        map.insert(c[1].to_owned(), serde_json::Value::from(c[2].parse::<u64>().unwrap_or(0)));
    }
    let v = serde_json::Value::Object(map);
    let t: toml::Value = toml::from_str(&format!("x = {}", v.as_object().map(|m| m.len()).unwrap_or(0))).expect("toml");
    let u = url::Url::parse(&args.url).map(|u| u.to_string()).unwrap_or_default();
    println!("{v} {t} {u}");
}
