//! Java system properties from the environment, as the Kafka and ZooKeeper start scripts hand
//! them to the JVM: `kafka-run-class.sh` word-splits `KAFKA_OPTS` onto the `java` command line
//! and `zkServer.sh` does the same with `SERVER_JVMFLAGS` / `JVMFLAGS`. Only `-Dkey=value`
//! (and `-Dkey`, which Java reads as the empty string) are properties; other JVM flags are
//! ignored. A later setting of the same key wins, as on a java command line.

use std::collections::BTreeMap;

/// The `-D` properties in one flags string (split on whitespace, as the shell does with an
/// unquoted `$KAFKA_OPTS`).
pub fn parse(flags: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for word in flags.split_whitespace() {
        let Some(prop) = word.strip_prefix("-D") else { continue };
        if prop.is_empty() {
            continue;
        }
        match prop.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            Some(_) => {}
            None => {
                out.insert(prop.to_string(), String::new());
            }
        }
    }
    out
}

/// The `-D` properties of the named environment variables, in order (later variables win).
pub fn from_env(vars: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for v in vars {
        if let Ok(s) = std::env::var(v) {
            out.extend(parse(&s));
        }
    }
    out
}

/// The variables a Kafka 2.5 start script passes to its JVM.
pub const KAFKA_VARS: &[&str] = &["KAFKA_OPTS"];
/// The variables Apache ZooKeeper's and Kafka's ZooKeeper start scripts pass to the server JVM.
pub const ZOOKEEPER_SERVER_VARS: &[&str] = &["JVMFLAGS", "SERVER_JVMFLAGS", "KAFKA_OPTS"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_d_flags() {
        let p = parse("-Xmx1g -Djava.security.auth.login.config=/etc/kafka/jaas.conf -server -Dzookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider -Dflag -D=x -D");
        assert_eq!(p.len(), 3);
        assert_eq!(p["java.security.auth.login.config"], "/etc/kafka/jaas.conf");
        assert_eq!(p["zookeeper.authProvider.1"], "org.apache.zookeeper.server.auth.SASLAuthenticationProvider");
        assert_eq!(p["flag"], "");
    }

    #[test]
    fn later_setting_wins_and_values_keep_equals_signs() {
        let p = parse("-Da=1 -Db=x=y -Da=2");
        assert_eq!(p["a"], "2");
        assert_eq!(p["b"], "x=y");
    }
}
