"""Shared harness of the interop suites (tests/zk, tests/ensemble, tests/shell, tests/broker,
tests/tools): paths to the binaries, free ports, bounded waits, launchers for our servers and
Apache ZooKeeper, and raw ZooKeeper (jute) and Kafka clients. Each suite's pytest.ini puts
tests/ on the path (`pythonpath = ..`), so a test writes `from lib.waiting import wait_until`."""
