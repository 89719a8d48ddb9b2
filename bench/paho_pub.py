"""The peer a developer writes when a device cannot connect: paho-mqtt connects, publishes one
message at QoS 1, waits for the PUBACK and disconnects, like the guides' test_mqtt_paho.py.
Exit code 0 on success, 1 with the error on stderr otherwise.

usage: paho_pub.py HOST PORT [CAFILE]      (PAHO_WS_PATH=/mqtt: MQTT over WebSocket at that path)
"""
import os
import sys

import paho.mqtt.client as mqtt


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    ws_path = os.environ.get("PAHO_WS_PATH")
    transport = "websockets" if ws_path else "tcp"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", transport=transport)
    if ws_path:
        client.ws_set_options(path=ws_path)
    if len(sys.argv) > 3:
        client.tls_set(ca_certs=sys.argv[3])
    try:
        client.connect(host, port, keepalive=60)
        client.loop_start()
        info = client.publish("bench/paho", b"hello", qos=1)
        info.wait_for_publish(timeout=10)
        ok = info.is_published()
        client.disconnect()
        client.loop_stop()
    except Exception as error:  # what a script like this prints, and then gives up
        print(f"paho: {error!r}", file=sys.stderr)
        return 1
    if not ok:
        print("paho: no PUBACK", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
