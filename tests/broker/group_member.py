"""A consumer-group member in its own process (so a test can SIGKILL it: no LeaveGroup).

usage: group_member.py ck|kp BOOTSTRAP TOPIC GROUP SESSION_MS [INSTANCE_ID]
Prints one JSON line per assignment change: {"assigned": [partitions...], "consumed": n}.
Commits automatically (auto commit every 200 ms)."""

import json
import sys
import time


def main():
    lib, bootstrap, topic, group, session = sys.argv[1:6]
    instance = sys.argv[6] if len(sys.argv) > 6 else None
    session = int(session)
    last = None
    consumed = 0

    def report(parts):
        nonlocal last
        parts = sorted(parts)
        if parts != last:
            last = parts
            print(json.dumps({"assigned": parts, "consumed": consumed}), flush=True)

    if lib == "ck":
        from confluent_kafka import Consumer

        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": session,
            "heartbeat.interval.ms": max(100, session // 6),
            "auto.offset.reset": "earliest",
            "auto.commit.interval.ms": 200,
            "topic.metadata.refresh.interval.ms": 1000,
        }
        if instance:
            conf["group.instance.id"] = instance
        c = Consumer(conf)
        c.subscribe([topic])
        while True:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                consumed += 1
            report([tp.partition for tp in c.assignment()])
    else:
        from kafka import KafkaConsumer

        c = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            session_timeout_ms=session,
            heartbeat_interval_ms=max(100, session // 6),
            auto_offset_reset="earliest",
            auto_commit_interval_ms=200,
            group_instance_id=instance,
        ) if instance else KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            session_timeout_ms=session,
            heartbeat_interval_ms=max(100, session // 6),
            auto_offset_reset="earliest",
            auto_commit_interval_ms=200,
        )
        while True:
            recs = c.poll(timeout_ms=200)
            consumed += sum(len(v) for v in recs.values())
            report([tp.partition for tp in c.assignment()])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    time.sleep(0)
