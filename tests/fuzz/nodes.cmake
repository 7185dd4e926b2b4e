# nodes/: the referral JSON parser and payload decoder, and the broker -> node bodies.
refbus_fuzz(fuzz_referral_json fuzz_referral_json.c refbus_nodes)
refbus_fuzz(fuzz_node_broker fuzz_node_broker.c refbus_nodes)
