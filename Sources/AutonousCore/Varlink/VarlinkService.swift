/// One varlink interface served by a `VarlinkServer`.
public protocol VarlinkInterfaceHandler: Sendable {
    /// The interface name, for example `io.autonous.Control`.
    var interfaceName: String { get }
    /// The interface definition in varlink's IDL, returned by `GetInterfaceDescription`.
    var interfaceDescription: String { get }
    /// Handles one call of this interface and returns the final reply's parameters.
    ///
    /// Throw `VarlinkError` for an error reply. Streaming methods call `replier.send` for each intermediate reply.
    /// A handler that waits must wait for a wake-up (a continuation, a stream), never block its thread; it is
    /// cancelled when the server shuts down, and `replier.whileCallerListens` ends it when the caller hangs up.
    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue
}

/// What `org.varlink.service.GetInfo` reports.
public struct VarlinkServiceInfo: Sendable, Codable, Equatable {
    public var vendor: String
    public var product: String
    public var version: String
    public var url: String
    public var interfaces: [String]

    public init(vendor: String, product: String, version: String, url: String, interfaces: [String] = []) {
        self.vendor = vendor
        self.product = product
        self.version = version
        self.url = url
        self.interfaces = interfaces
    }
}

/// `org.varlink.service`, the introspection interface every varlink service provides.
struct VarlinkIntrospection: VarlinkInterfaceHandler {
    let info: VarlinkServiceInfo
    let descriptions: [String: String]

    var interfaceName: String { "org.varlink.service" }

    var interfaceDescription: String {
        """
        # The Varlink Service Interface is provided by every varlink service. It
        # describes the service and the interfaces it implements.
        interface org.varlink.service

        # Get a list of all the interfaces a service provides and information
        # about the implementation.
        method GetInfo() -> (
          vendor: string,
          product: string,
          version: string,
          url: string,
          interfaces: []string
        )

        # Get the description of an interface that is implemented by this service.
        method GetInterfaceDescription(interface: string) -> (description: string)

        # The requested interface was not found.
        error InterfaceNotFound (interface: string)

        # The requested method was not found
        error MethodNotFound (method: string)

        # The interface defines the requested method, but the service does not
        # implement it.
        error MethodNotImplemented (method: string)

        # One of the passed parameters is invalid.
        error InvalidParameter (parameter: string)

        # Client is denied access
        error PermissionDenied ()

        # Method is expected to be called with 'more' set to true, but wasn't
        error ExpectedMore ()
        """
    }

    struct InterfaceParameter: Decodable {
        var interface: String
    }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        switch call.memberName {
        case "GetInfo":
            return try JSONValue.encode(info)
        case "GetInterfaceDescription":
            let parameter = try call.decode(InterfaceParameter.self)
            guard let description = descriptions[parameter.interface] else {
                throw VarlinkError.interfaceNotFound(parameter.interface)
            }
            return .object(["description": .string(description)])
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}
