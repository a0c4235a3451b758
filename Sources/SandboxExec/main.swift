import Sandbox

print("sandbox")
