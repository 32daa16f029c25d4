namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>The public function codes this library speaks.</summary>
public enum ModbusFunction : byte
{
    ReadCoils = 1,
    ReadDiscreteInputs = 2,
    ReadHoldingRegisters = 3,
    ReadInputRegisters = 4,
    WriteSingleCoil = 5,
    WriteSingleRegister = 6,
    WriteMultipleCoils = 15,
    WriteMultipleRegisters = 16,
}

/// <summary>Exception codes of the Modbus application protocol (spec v1.1b3, section 7).</summary>
public enum ModbusExceptionCode : byte
{
    IllegalFunction = 1,
    IllegalDataAddress = 2,
    IllegalDataValue = 3,
    ServerDeviceFailure = 4,
    Acknowledge = 5,
    ServerDeviceBusy = 6,
    NegativeAcknowledge = 7,
    MemoryParityError = 8,
    GatewayPathUnavailable = 10,
    GatewayTargetDeviceFailedToRespond = 11,
}

/// <summary>The device answered with an exception response.</summary>
public sealed class ModbusException(byte function, ModbusExceptionCode code)
    : Exception($"Modbus exception {(byte)code} ({NameOf(code)}) on function code {function}")
{
    public byte Function { get; } = function;
    public ModbusExceptionCode Code { get; } = code;
    /// <summary>The exception's name (IllegalDataAddress, …) or <c>Unknown(n)</c>.</summary>
    public string Name => NameOf(Code);

    public static string NameOf(ModbusExceptionCode code) =>
        Enum.IsDefined(code) ? code.ToString() : $"Unknown({(byte)code})";
}

/// <summary>A frame or PDU that does not follow the protocol (truncated, wrong length, wrong echo).</summary>
public sealed class ModbusProtocolException(string message) : Exception(message);

/// <summary>No response arrived within the request timeout.</summary>
public sealed class ModbusTimeoutException(string message) : TimeoutException(message);

/// <summary>The connection is down (refused, reset, or waiting for the next reconnect attempt).</summary>
public sealed class ModbusConnectionException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>Protocol limits (spec v1.1b3, section 6).</summary>
public static class ModbusLimits
{
    public const int MaxReadBits = 2000;
    public const int MaxReadRegisters = 125;
    public const int MaxWriteBits = 1968;
    public const int MaxWriteRegisters = 123;
    /// <summary>Largest PDU: 260-byte ADU minus the 7-byte MBAP header.</summary>
    public const int MaxPduLength = 253;
}
