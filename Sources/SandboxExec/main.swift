import Sandbox
print("sandbox")
