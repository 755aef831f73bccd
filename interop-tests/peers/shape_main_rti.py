#!/usr/bin/env python3
"""OMG shape_main-compatible application on RTI Connext 6.1.2 through RTI Connector for Python
(pip package `rticonnextdds-connector`).

Command line and stdout lines: see shape_main_common.py (the shape_main contract). The type and base QoS are in
shape_main_rti.xml; the case's QoS, topics and participant are written to a temporary XML file per run.

The Connector API has limits, reported as `not supported` where they matter:
- it exposes no incompatible-QoS, deadline-missed or liveliness statuses. `-f` (deadline) prints `not supported`.
  Incompatible QoS is taken from Connext's own log instead: the participant factory logs at WARNING level to a
  temporary file, and each `PRESPsService_isRemote...Compatible:incompatible <policy>` record that Connext writes
  when it refuses a match becomes the contract's `on_offered/requested_incompatible_qos()` line (once per remote
  endpoint);
- no begin/end coherent changes: a publisher that must write coherent sets (`--coherent --coherent-sample-count
  N`) prints `not supported`. PRESENTATION itself (access scope, coherent and ordered access) is set in the
  publisher/subscriber QoS, and RTI's readers honour it (whole coherent sets, ordered reads);
- matched counts are polled once per loop iteration, so `on_*_matched` lines may lag by one period.
The content filter (`-c`, `--cft`) is a real RTI content-filtered topic (builtin.sql).
"""
import os
import re
import sys
import tempfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shape_main_common as sm  # noqa: E402


def _dur(ms):
    if ms <= 0:
        return "<sec>DURATION_INFINITE_SEC</sec><nanosec>DURATION_INFINITE_NSEC</nanosec>"
    return "<sec>%d</sec><nanosec>%d</nanosec>" % (ms // 1000, (ms % 1000) * 1000000)


def _endpoint_qos(a):
    q = ["<reliability><kind>%s</kind></reliability>"
         % ("RELIABLE_RELIABILITY_QOS" if a.reliable else "BEST_EFFORT_RELIABILITY_QOS"),
         "<durability><kind>%s</kind></durability>" % {
             "v": "VOLATILE_DURABILITY_QOS", "l": "TRANSIENT_LOCAL_DURABILITY_QOS",
             "t": "TRANSIENT_DURABILITY_QOS", "p": "PERSISTENT_DURABILITY_QOS"}[a.durability]]
    if a.depth == 0:
        q.append("<history><kind>KEEP_ALL_HISTORY_QOS</kind></history>")
    else:
        q.append("<history><kind>KEEP_LAST_HISTORY_QOS</kind><depth>%d</depth></history>" % (a.depth or 1))
    if a.deadline > 0:
        q.append("<deadline><period>%s</period></deadline>" % _dur(a.deadline))
    q.append("<ownership><kind>%s</kind></ownership>"
             % ("EXCLUSIVE_OWNERSHIP_QOS" if a.strength >= 0 else "SHARED_OWNERSHIP_QOS"))
    return q


# Connext's log record when it refuses a match (on a reader; a writer logs isLocalWriterRemoteReader...), e.g.
# `[...{E=DR,T=Square,C=ShapeType,D=0}|LINK 0x01FF...:0x00000102{C=ShapeType}]
#  PRESPsService_isRemoteWriterLocalReaderCompatible:incompatible reliability: writer 0 reader 1`
INCOMPATIBLE_RE = re.compile(r"T=([^,}]+).*\|LINK ([0-9A-Fa-fx,:]+).*PRESPsService_is(\w+?)Compatible:"
                             r"incompatible ([a-z_ ]+?)(?::|$)")
# Connext's words for the policy -> QosPolicyId (shape_main_common.POLICY_NAMES).
POLICY_IDS = {"durability": 2, "presentation": 3, "deadline": 4, "latency budget": 5, "ownership": 6,
              "liveliness": 8, "partition": 10, "reliability": 11, "destination order": 12,
              "data representation": 23, "type consistency": 24}


def _policy_id(words):
    for name, pid in POLICY_IDS.items():
        if words.startswith(name) or words.replace("_", " ").startswith(name):
            return pid
    return 0


# Connext's log verbosity (WARNING: what the incompatible-QoS reporting needs). A debugging aid:
# SHAPE_MAIN_RTI_LOG_VERBOSITY=ALL (or STATUS_LOCAL, STATUS_REMOTE) with SHAPE_MAIN_RTI_KEEP_LOG=1 keeps Connext's
# whole trace of discovery and of each received sample.
LOG_VERBOSITY = os.environ.get("SHAPE_MAIN_RTI_LOG_VERBOSITY", "WARNING")
if LOG_VERBOSITY not in ("WARNING", "STATUS_LOCAL", "STATUS_REMOTE", "ALL"):
    LOG_VERBOSITY = "WARNING"


def _config_xml(a, names, flt, log_path):
    rep = "XCDR2_DATA_REPRESENTATION" if a.xcdr == 2 else "XCDR_DATA_REPRESENTATION"
    scope = {"i": "INSTANCE_PRESENTATION_QOS", "t": "TOPIC_PRESENTATION_QOS", "g": "GROUP_PRESENTATION_QOS"}
    group = ("<presentation><access_scope>%s</access_scope><coherent_access>%s</coherent_access>"
             "<ordered_access>%s</ordered_access></presentation>"
             % (scope[a.access_scope], str(a.coherent).lower(), str(a.ordered).lower()))
    if a.partition:
        group += "<partition><name><element>%s</element></name></partition>" % escape(a.partition)
    q = _endpoint_qos(a)
    if a.publish:
        q.append("<representation><value><element>%s</element></value></representation>" % rep)
        if a.strength >= 0:
            q.append("<ownership_strength><value>%d</value></ownership_strength>" % a.strength)
        if a.lifespan > 0:
            q.append("<lifespan><duration>%s</duration></lifespan>" % _dur(a.lifespan))
        if a.additional_payload_size > 60000:
            # Connext sends reliable fragmented samples only from an asynchronous writer.
            q.append("<publish_mode><kind>ASYNCHRONOUS_PUBLISH_MODE_QOS</kind></publish_mode>")
        if a.final_instance_state == "u":
            q.append("<writer_data_lifecycle><autodispose_unregistered_instances>false"
                     "</autodispose_unregistered_instances></writer_data_lifecycle>")
        profile = "<datawriter_qos>%s</datawriter_qos>" % "".join(q)
    else:
        q.append("<representation><value><element>%s</element></value></representation>" % rep)
        if a.time_filter > 0:
            q.append("<time_based_filter><minimum_separation>%s</minimum_separation></time_based_filter>"
                     % _dur(a.time_filter))
        profile = "<datareader_qos>%s</datareader_qos>" % "".join(q)
    topics = "".join('<topic name="%s" register_type_ref="ShapeType"/>' % escape(n) for n in names)
    if a.publish:
        ents = "".join('<data_writer name="W%d" topic_ref="%s"><datawriter_qos base_name="ShapeMainCase::ep"/>'
                       '</data_writer>' % (i, escape(n)) for i, n in enumerate(names))
        group_xml = '<publisher name="Pub"><publisher_qos>%s</publisher_qos>%s</publisher>' % (group, ents)
    else:
        cf = ""
        if flt is not None:
            cf = '<content_filter name="%%s_filtered" kind="builtin.sql"><expression>%s</expression>' \
                 '</content_filter>' % escape(flt)
        ents = "".join('<data_reader name="R%d" topic_ref="%s">%s<datareader_qos base_name="ShapeMainCase::ep"/>'
                       '</data_reader>' % (i, escape(n), cf.replace("%s", escape(n))) for i, n in enumerate(names))
        group_xml = '<subscriber name="Sub"><subscriber_qos>%s</subscriber_qos>%s</subscriber>' % (group, ents)
    return """<?xml version="1.0" encoding="UTF-8"?>
<dds>
  <qos_library name="ShapeMainCase">
    <qos_profile name="ep" base_name="ShapeMainBase::endpoints">%s</qos_profile>
    <qos_profile name="factory" is_default_participant_factory_profile="true">
      <participant_factory_qos><logging><verbosity>%s</verbosity><category>ALL</category>
        <output_file>%s</output_file></logging></participant_factory_qos>
    </qos_profile>
  </qos_library>
  <domain_library name="ShapeMainDomains">
    <domain name="D" domain_id="%d"><register_type name="ShapeType" type_ref="ShapeType"/>%s</domain>
  </domain_library>
  <domain_participant_library name="ShapeMainParticipants">
    <domain_participant name="P" domain_ref="ShapeMainDomains::D">
      <participant_qos base_name="ShapeMainBase::participant"/>
      %s
    </domain_participant>
  </domain_participant_library>
</dds>
""" % (profile, LOG_VERBOSITY, escape(log_path), a.domain, topics, group_xml)


STATES = {"ALIVE": "ALIVE", "NOT_ALIVE_DISPOSED": "NOT_ALIVE_DISPOSED",
          "NOT_ALIVE_NO_WRITERS": "NOT_ALIVE_NO_WRITERS"}


class RtiBackend:
    def __init__(self, a):
        self.a = a
        self.connector = None
        self.tmp = None
        self.entities = []   # (name, output/input, [last matched count])
        self.log_path = None
        self.log = None
        self.log_rest = ""
        self.incompatible_seen = set()
        self.libc = None

    def unsupported(self, a):
        lines = []
        if a.publish and a.coherent and a.coherent_sample_count > 0:
            lines.append("    Presentation Coherent Access = not supported (RTI Connector has no begin/end "
                         "coherent changes)")
        if a.deadline > 0:
            lines.append("    Deadline = not supported (RTI Connector exposes no deadline-missed status)")
        return lines

    def create_topic(self, a, name):
        # Topics are declared in the XML; the Connector creates them with the participant.
        pass

    def make_filter(self, a, name):
        if a.color is not None:
            return "color = '%s'" % a.color.replace("'", "''")
        return a.cft

    def _open(self, flt=None):
        if self.connector is not None:
            return
        import rticonnextdds_connector as rti
        self.rti = rti
        names = sm.topic_names(self.a)
        fd, self.tmp = tempfile.mkstemp(prefix="shape_main_rti_", suffix=".xml")
        lfd, self.log_path = tempfile.mkstemp(prefix="shape_main_rti_", suffix=".log")
        os.close(lfd)
        with os.fdopen(fd, "w") as f:
            f.write(_config_xml(self.a, names, flt, self.log_path))
        url = os.path.join(HERE, "shape_main_rti.xml") + ";" + self.tmp
        self.connector = rti.Connector(config_name="ShapeMainParticipants::P", url=url)

    def create_writer(self, a, name):
        self._open()
        i = sm.topic_names(a).index(name)
        w = self.connector.get_output("Pub::W%d" % i)
        self.entities.append((name, w, [0], True))
        self.poll()
        return w

    def create_reader(self, a, name, flt):
        self._open(flt)
        i = sm.topic_names(a).index(name)
        r = self.connector.get_input("Sub::R%d" % i)
        self.entities.append((name, r, [0], False))
        self.poll()
        return r

    def poll_log(self):
        """Turns Connext's refused-match log records into the contract's incompatible-QoS lines."""
        if self.log is None:
            if not self.log_path:
                return
            try:
                self.log = open(self.log_path, "r", errors="replace")
            except OSError:
                return
        # Connext writes its log through a buffered stdio stream: flush every stream of the process first.
        if self.libc is None:
            import ctypes
            self.libc = ctypes.CDLL(None)
        self.libc.fflush(None)
        chunk = self.log.read()
        if not chunk:
            return
        lines = (self.log_rest + chunk).split("\n")
        self.log_rest = lines.pop()
        names = [name for name, _, _, _ in self.entities]
        for line in lines:
            m = INCOMPATIBLE_RE.search(line)
            if not m or m.group(1) not in names or (m.group(1), m.group(2)) in self.incompatible_seen:
                continue
            self.incompatible_seen.add((m.group(1), m.group(2)))
            # is{Remote,Local}Writer{Local,Remote}ReaderCompatible: "LocalReader" means our reader refused a
            # writer (requested), "LocalWriter" our writer refused a reader (offered).
            kind = "on_requested_incompatible_qos" if "LocalReader" in m.group(3) else "on_offered_incompatible_qos"
            sm.out(sm.incompatible_line(kind, m.group(1), _policy_id(m.group(4).strip())))

    def poll(self):
        self.poll_log()
        for name, e, last, is_writer in self.entities:
            try:
                n = len(e.matched_subscriptions if is_writer else e.matched_publications)
            except Exception:  # noqa: BLE001 - status query failures are not fatal
                continue
            if n != last[0]:
                line = sm.publication_matched_line if is_writer else sm.subscription_matched_line
                sm.out(line(name, n, n - last[0]))
                last[0] = n

    def write(self, w, color, x, y, size, payload):
        w.instance.set_dictionary({"color": color, "x": x, "y": y, "shapesize": size,
                                   "additional_payload_size": payload})
        w.write()

    def _key_action(self, w, color, action):
        w.clear_members()
        w.instance.set_dictionary({"color": color})
        w.write(action=action)

    def dispose(self, w, color):
        self._key_action(w, color, "dispose")

    def unregister(self, w, color):
        self._key_action(w, color, "unregister")

    def take(self, r, a):
        if a.use_read:
            r.read()
        else:
            r.take()
        res = []
        for s in r.samples:
            try:
                state = STATES.get(s.info["instance_state"], "ALIVE")
            except Exception:  # noqa: BLE001 - missing info field
                state = "ALIVE"
            if s.valid_data:
                d = s.get_dictionary()
                payload = d.get("additional_payload_size") or []
                res.append((True, d["color"], d["x"], d["y"], d["shapesize"],
                            payload[-1] if payload else None, state))
            else:
                try:
                    color = s.get_string("color")
                except Exception:  # noqa: BLE001 - no key available
                    color = None
                res.append((False, color, 0, 0, 0, None, state))
        return res

    def wait_acks(self, writers, seconds):
        for w in writers:
            try:
                w.wait(int(seconds * 1000))
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    def close(self):
        if self.connector is not None:
            self.connector.close()
        if self.tmp:
            os.unlink(self.tmp)
        if self.log is not None:
            self.log.close()
        if self.log_path:
            if os.environ.get("SHAPE_MAIN_RTI_KEEP_LOG"):
                # Debugging aid: keep Connext's WARNING-level log and say where it is.
                sys.stderr.write("Connext log kept at %s\n" % self.log_path)
            else:
                os.unlink(self.log_path)


def main():
    a = sm.parse_args(prog="shape_main_rti")
    return sm.run(RtiBackend(a), a)


if __name__ == "__main__":
    sys.exit(main())
