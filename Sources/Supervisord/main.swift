print("sup")
