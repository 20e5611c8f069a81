"""HuMoSet (HuMo's released dataset layout): scan a folder and import it into triplet shards."""
