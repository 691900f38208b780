"""Google Cloud constructs: network, firewall, service account, instance templates, managed
instance groups, load balancers and the Vertex AI endpoint with its key."""
