print("stowage: the server arrives with issue 3")
