#!/usr/bin/env python3
"""Independent Kafka client for the real-broker tests: kafka-python, a pure-Python client that shares no code with
librdkafka, so a record it reads back proves what the broker stored rather than what our producer believes.

  kafka_tool.py create-topic --brokers 127.0.0.1:9092 --topic t [--partitions 1]
  kafka_tool.py consume --brokers 127.0.0.1:9092 --topic t --count N [--timeout 30]
      prints one JSON object: {"count": n, "records": [{"partition", "offset", "key_hex", "value_hex", "headers"}]}
  kafka_tool.py librdkafka-path   prints the librdkafka .so bundled in the confluent-kafka wheel
"""
import argparse
import glob
import json
import os
import sys
import time


def create_topic(args):
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=args.brokers, client_id="messagebridge-tests")
    try:
        admin.create_topics([NewTopic(name=args.topic, num_partitions=args.partitions, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def consume(args):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=args.brokers, enable_auto_commit=False, group_id=None)
    deadline = time.monotonic() + args.timeout
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
        if partitions is None:
            time.sleep(0.2)
    if partitions is None:
        print(json.dumps({"count": 0, "records": [], "error": "topic not found"}))
        return
    assignment = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assignment)
    consumer.seek_to_beginning(*assignment)
    records = []
    while len(records) < args.count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                records.append(
                    {
                        "partition": record.partition,
                        "offset": record.offset,
                        "key_hex": None if record.key is None else record.key.hex(),
                        "value_hex": None if record.value is None else record.value.hex(),
                        "headers": [[name, value.hex() if value is not None else None] for name, value in record.headers],
                    }
                )
    consumer.close()
    print(json.dumps({"count": len(records), "records": records}))


def librdkafka_path(_args):
    import confluent_kafka

    libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    candidates = sorted(glob.glob(os.path.join(libs, "librdkafka*.so*")))
    if not candidates:
        sys.exit(f"no librdkafka in {libs}")
    print(candidates[0])


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("create-topic")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, default=1)
    p.set_defaults(run=create_topic)
    p = sub.add_parser("consume")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(run=consume)
    p = sub.add_parser("librdkafka-path")
    p.set_defaults(run=librdkafka_path)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
