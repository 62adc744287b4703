"""The only importer of aiokafka: client settings, admin, producer sink, topic reader.

Deliberately empty: import the submodule you need (``stream.kafka.producer`` ...), so
importing ``stream.kafka`` never pulls aiokafka into a process that does not talk to Kafka.
"""
