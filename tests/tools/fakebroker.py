"""A scripted stand-in for a Kafka 2.5 broker, speaking just enough of the protocol for the
admin tools' wire tests: ApiVersions (v0-2), Metadata (v1), ElectLeaders (v0-2),
AlterPartitionReassignments (v0), ListPartitionReassignments (v0), DescribeConfigs (v1-2) and
IncrementalAlterConfigs (v0), the last two over dynamic topic and broker configs only. One process-local server
listens on one 127.0.0.1 port per node id; every request is recorded (decoded) so a test can
check what the tool sent, and answers come from a small cluster model the test scripts.
Encodings follow Kafka's message schemas (compact types and tagged fields for flexible
versions)."""

import socket
import struct
import threading

API_VERSIONS, METADATA, ELECT_LEADERS, ALTER_REASSIGN, LIST_REASSIGN = 18, 3, 43, 45, 46
DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 44
TOPIC, BROKER = 2, 4


# --- encoding -------------------------------------------------------------------------------

def uvarint(n):
    out = b""
    while True:
        if n < 0x80:
            return out + bytes([n])
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def cstring(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def array(items):
    return i32(len(items)) + b"".join(items)


def carray(items):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = uvarint(0)


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("short request")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = 0
        n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return n
            shift += 7

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def cstring(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item() for _ in range(n)]

    def carray(self, item):
        n = self.uvarint()
        return None if n == 0 else [item() for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


# --- the server -----------------------------------------------------------------------------

class FakeCluster:
    """nodes: broker ids (each gets a port); versions: {api_key: (min, max)} advertised."""

    def __init__(self, nodes=(0, 1, 2), versions=None):
        self.versions = {API_VERSIONS: (0, 2), METADATA: (0, 1), ELECT_LEADERS: (0, 2), ALTER_REASSIGN: (0, 0), LIST_REASSIGN: (0, 0),
                         DESCRIBE_CONFIGS: (1, 2), INCREMENTAL_ALTER_CONFIGS: (0, 0)}
        if versions is not None:
            self.versions = dict(versions)
        self.controller = nodes[0]
        self.topics = {}          # name -> {partition: [replicas]}
        self.leaders = {}         # (topic, partition) -> leader
        self.ongoing = {}         # (topic, partition) -> target replicas
        self.requests = []        # (node, api_key, version, decoded body)
        self.elect_results = None  # callable(request dict) -> (top_error, [(topic, partition, code, message)])
        self.alter_errors = {}    # (topic, partition) -> (code, message)
        self.not_controller_once = set()  # api keys that answer NOT_CONTROLLER once, then move the controller
        self.configs = {}         # (resource type, name) -> {key: value}, dynamic configs
        self.lock = threading.Lock()
        self.socks = {}
        self.ports = {}
        self.stopping = False
        for n in nodes:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            self.socks[n] = s
            self.ports[n] = s.getsockname()[1]
            threading.Thread(target=self._accept, args=(n, s), daemon=True).start()

    def bootstrap(self, node=None):
        return "127.0.0.1:%d" % self.ports[self.controller if node is None else node]

    def recorded(self, api_key):
        with self.lock:
            return [r for r in self.requests if r[1] == api_key]

    def close(self):
        self.stopping = True
        for s in self.socks.values():
            try:
                s.close()
            except OSError:
                pass

    def _accept(self, node, s):
        while not self.stopping:
            try:
                c, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(node, c), daemon=True).start()

    def _serve(self, node, c):
        c.settimeout(30)
        try:
            while True:
                head = self._read(c, 4)
                if head is None:
                    return
                n = struct.unpack(">i", head)[0]
                body = self._read(c, n)
                if body is None:
                    return
                reply = self._handle(node, body)
                c.sendall(i32(len(reply)) + reply)
        except (OSError, ValueError):
            return
        finally:
            c.close()

    @staticmethod
    def _read(c, n):
        buf = b""
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _flexible(self, key, version):
        return (key == ELECT_LEADERS and version >= 2) or key in (ALTER_REASSIGN, LIST_REASSIGN)

    def _handle(self, node, body):
        r = Reader(body)
        key, version, corr = r.i16(), r.i16(), r.i32()
        r.string()
        flexible = self._flexible(key, version)
        if flexible:
            r.tags()
        handler = {API_VERSIONS: self._api_versions, METADATA: self._metadata, ELECT_LEADERS: self._elect,
                   ALTER_REASSIGN: self._alter, LIST_REASSIGN: self._list, DESCRIBE_CONFIGS: self._describe_configs,
                   INCREMENTAL_ALTER_CONFIGS: self._incremental_alter}[key]
        with self.lock:
            payload = handler(node, version, r)
        head = i32(corr) + (TAGS if flexible and key != API_VERSIONS else b"")
        return head + payload

    def _record(self, node, key, version, decoded):
        self.requests.append((node, key, version, decoded))

    def _api_versions(self, node, version, r):
        keys = [i16(k) + i16(lo) + i16(hi) for k, (lo, hi) in sorted(self.versions.items())]
        out = i16(0) + array(keys)
        if version >= 1:
            out += i32(0)
        return out

    def _metadata(self, node, version, r):
        topics = r.array(r.string)
        if version >= 4:
            raise ValueError("only Metadata v0-1 here")
        self._record(node, METADATA, version, {"topics": topics})
        brokers = [i32(n) + string("127.0.0.1") + i32(p) + (string(None) if version >= 1 else b"") for n, p in sorted(self.ports.items())]
        names = sorted(self.topics) if topics is None else topics
        out = []
        for name in names:
            parts = self.topics.get(name)
            if parts is None:
                out.append(i16(3) + string(name) + (i8(0) if version >= 1 else b"") + array([]))
                continue
            ps = [i16(0) + i32(p) + i32(self.leaders.get((name, p), reps[0])) + array([i32(x) for x in reps]) + array([i32(x) for x in reps])
                  for p, reps in sorted(parts.items())]
            out.append(i16(0) + string(name) + (i8(0) if version >= 1 else b"") + array(ps))
        body = array(brokers)
        if version >= 1:
            body += i32(self.controller)
        return body + array(out)

    def _not_controller(self, node, key):
        if node != self.controller:
            return True
        if key in self.not_controller_once:
            self.not_controller_once.discard(key)
            others = sorted(n for n in self.ports if n != node)
            self.controller = others[0]
            return True
        return False

    def _elect(self, node, version, r):
        flexible = version >= 2
        election_type = r.i8() if version >= 1 else 0
        st, arr = (r.cstring, r.carray) if flexible else (r.string, r.array)

        def tp():
            t = st()
            ps = arr(r.i32)
            if flexible:
                r.tags()
            return (t, ps)

        parts = arr(tp)
        timeout = r.i32()
        req = {"election_type": election_type, "partitions": parts, "timeout_ms": timeout}
        self._record(node, ELECT_LEADERS, version, req)
        if self._not_controller(node, ELECT_LEADERS):
            top, results = 41, []
        elif self.elect_results is not None:
            top, results = self.elect_results(req)
        else:
            top, results = 0, [(t, p, 0, None) for t, ps in (parts or []) for p in ps]
        by_topic = {}
        for t, p, code, msg in results:
            by_topic.setdefault(t, []).append((p, code, msg))
        s, a = (cstring, carray) if flexible else (string, array)
        tops = []
        for t, ps in sorted(by_topic.items()):
            items = [i32(p) + i16(code) + s(msg) + (TAGS if flexible else b"") for p, code, msg in ps]
            tops.append(s(t) + a(items) + (TAGS if flexible else b""))
        out = i32(0) + (i16(top) if version >= 1 else b"") + a(tops)
        return out + (TAGS if flexible else b"")

    def _alter(self, node, version, r):
        timeout = r.i32()

        def part():
            p = r.i32()
            reps = r.carray(r.i32)
            r.tags()
            return (p, reps)

        def topic():
            t = r.cstring()
            ps = r.carray(part)
            r.tags()
            return (t, ps)

        topics = r.carray(topic)
        r.tags()
        self._record(node, ALTER_REASSIGN, version, {"timeout_ms": timeout, "topics": topics})
        top = 41 if self._not_controller(node, ALTER_REASSIGN) else 0
        tops = []
        for t, ps in topics or []:
            items = []
            for p, reps in ps:
                code, msg = self.alter_errors.get((t, p), (0, None))
                if top == 0 and code == 0:
                    self.ongoing[(t, p)] = reps
                items.append(i32(p) + i16(code) + cstring(msg) + TAGS)
            tops.append(cstring(t) + carray(items) + TAGS)
        return i32(0) + i16(top) + cstring(None) + carray(tops) + TAGS

    def _list(self, node, version, r):
        timeout = r.i32()

        def topic():
            t = r.cstring()
            ps = r.carray(r.i32)
            r.tags()
            return (t, ps)

        topics = r.carray(topic)
        r.tags()
        self._record(node, LIST_REASSIGN, version, {"timeout_ms": timeout, "topics": topics})
        top = 41 if self._not_controller(node, LIST_REASSIGN) else 0
        wanted = None if topics is None else {(t, p) for t, ps in topics for p in ps}
        by_topic = {}
        for (t, p), target in sorted(self.ongoing.items()):
            if wanted is None or (t, p) in wanted:
                by_topic.setdefault(t, []).append((p, target))
        tops = []
        for t, ps in sorted(by_topic.items()):
            items = []
            for p, target in ps:
                current = self.topics.get(t, {}).get(p, [])
                full = target + [x for x in current if x not in target]
                adding = [x for x in target if x not in current]
                removing = [x for x in current if x not in target]
                items.append(i32(p) + carray([i32(x) for x in full]) + carray([i32(x) for x in adding]) + carray([i32(x) for x in removing]) + TAGS)
            tops.append(cstring(t) + carray(items) + TAGS)
        return i32(0) + i16(0 if top == 0 else top) + cstring(None) + carray(tops if top == 0 else []) + TAGS

    def _describe_configs(self, node, version, r):
        def resource():
            return (r.i8(), r.string(), r.array(r.string))

        resources = r.array(resource)
        r.i8()  # include_synonyms
        self._record(node, DESCRIBE_CONFIGS, version, {"resources": resources})
        out = []
        for kind, name, keys in resources:
            cfg = self.configs.get((kind, name), {})
            source = 1 if kind == TOPIC else 2
            entries = [string(k) + string(v) + i8(0) + i8(source) + i8(0) + array([]) for k, v in sorted(cfg.items()) if keys is None or k in keys]
            out.append(i16(0) + string(None) + i8(kind) + string(name) + array(entries))
        return i32(0) + array(out)

    def _incremental_alter(self, node, version, r):
        def config():
            return (r.string(), r.i8(), r.string())

        def resource():
            return (r.i8(), r.string(), r.array(config))

        resources = r.array(resource)
        r.i8()  # validate_only
        self._record(node, INCREMENTAL_ALTER_CONFIGS, version, {"resources": resources})
        out = []
        for kind, name, ops in resources:
            if kind == BROKER and name != str(node):
                out.append(i16(42) + string("broker %s configs must be sent to broker %s" % (name, name)) + i8(kind) + string(name))
                continue
            cfg = self.configs.setdefault((kind, name), {})
            for key, op, value in ops:
                if op == 0:
                    cfg[key] = value
                elif op == 1:
                    cfg.pop(key, None)
            out.append(i16(0) + string(None) + i8(kind) + string(name))
        return i32(0) + array(out)

    def complete(self):
        """Finishes every ongoing reassignment, as a controller would."""
        with self.lock:
            for (t, p), target in self.ongoing.items():
                self.topics[t][p] = list(target)
                self.leaders[(t, p)] = target[0]
            self.ongoing.clear()
