#!/usr/bin/env python3
"""ShapeType publisher/subscriber using RTI Connector for Python (pip package `rticonnextdds-connector`).

Types and QoS live in rti_shape.xml; see shape_common.py for the CLI and the output format.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import shape_common as sc  # noqa: E402


def open_connector(args):
    # rti_shape.xml takes topic, domain and data representation from the environment ($(VAR) expansion).
    os.environ["SHAPE_TOPIC"] = args.topic
    os.environ["SHAPE_DOMAIN"] = str(args.domain)
    os.environ["SHAPE_DATA_REPRESENTATION"] = \
        "XCDR2_DATA_REPRESENTATION" if args.xcdr2 else "XCDR_DATA_REPRESENTATION"
    import rticonnextdds_connector as rti
    config = "ShapeParticipantLib::{}_{}_{}".format(
        args.mode, "reliable" if args.reliable else "best_effort",
        "transient_local" if args.transient_local else "volatile")
    return rti, rti.Connector(config_name=config, url=os.path.join(HERE, "rti_shape.xml"))


def run_pub(args, rti, connector):
    output = connector.get_output("Publisher::Writer")
    sc.log("rti pub: ready")
    deadline = time.monotonic() + args.wait_match
    while not output.matched_subscriptions:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            sc.log("rti pub: no reader matched within --wait-match; writing anyway")
            break
        try:
            output.wait_for_subscriptions(int(min(remaining, 0.5) * 1000))
        except rti.TimeoutError:
            pass
    pacer = sc.Pacer(args.rate)
    for color, x, y in sc.samples(args.count, args.instances):
        output.instance.set_dictionary(
            {"color": color, "x": x, "y": y, "shapesize": sc.SHAPESIZE, "additional_payload_size": []})
        output.write()
        pacer.wait()
    if args.dispose:
        for color in sc.COLORS[:args.instances]:
            output.clear_members()
            output.instance.set_dictionary({"color": color})
            output.write(action="dispose")
    if args.reliable:
        try:
            output.wait(int(max(1.0, args.timeout) * 1000))
        except rti.TimeoutError:
            sc.log("rti pub: not all samples acknowledged before the timeout")
    # Linger so that late ACKNACK/retransmit exchanges and best-effort deliveries complete.
    time.sleep(1.0)
    sc.log(f"rti pub: wrote {args.count} samples")
    return 0


def run_sub(args, rti, connector):
    inp = connector.get_input("Subscriber::Reader")
    sc.log("rti sub: ready")
    want_disposes = args.instances if args.dispose else 0
    got, disposes = 0, set()
    deadline = time.monotonic() + args.timeout
    while (got < args.count or len(disposes) < want_disposes) and time.monotonic() < deadline:
        try:
            inp.wait(100)
        except rti.TimeoutError:
            continue
        inp.take()
        disposed_now = []
        for sample in inp.samples:
            state = sample.info["instance_state"]
            if sample.valid_data:
                d = sample.get_dictionary()
                color = d["color"]
                sc.emit_sample(color, d["x"], d["y"], d["shapesize"])
                got += 1
            elif state == "NOT_ALIVE_DISPOSED":
                # Key fields of a dispose are readable even though valid_data is False.
                color = sample.get_string("color")
            else:
                continue
            if state == "NOT_ALIVE_DISPOSED" and color not in disposes and color not in disposed_now:
                disposed_now.append(color)
        for color in disposed_now:
            sc.emit_dispose(color)
            disposes.add(color)
    sc.log(f"rti sub: received {got} samples, {len(disposes)} disposes")
    return 0


def main():
    args = sc.parse_args()
    rti, connector = open_connector(args)
    try:
        return run_pub(args, rti, connector) if args.mode == "pub" else run_sub(args, rti, connector)
    finally:
        connector.close()


if __name__ == "__main__":
    sys.exit(main())
