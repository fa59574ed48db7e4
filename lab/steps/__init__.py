"""Steps: what runs on the nodes once the network is built, and what it observed."""
