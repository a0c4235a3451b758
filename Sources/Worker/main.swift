print("autonous-worker")
