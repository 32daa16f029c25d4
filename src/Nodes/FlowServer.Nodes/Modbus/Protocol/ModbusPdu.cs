using System.Buffers.Binary;

namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>Builds and parses PDUs (function code + data) for the public function codes.</summary>
public static class ModbusPdu
{
    // ---- requests (client side) ----

    public static byte[] ReadRequest(ModbusFunction function, ushort address, ushort quantity)
    {
        var max = function is ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs ? ModbusLimits.MaxReadBits : ModbusLimits.MaxReadRegisters;
        if (function is not (ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs or ModbusFunction.ReadHoldingRegisters or ModbusFunction.ReadInputRegisters))
            throw new ArgumentException($"{function} is not a read function", nameof(function));
        CheckRange(address, quantity, max);
        var pdu = new byte[5];
        pdu[0] = (byte)function;
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(1), address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(3), quantity);
        return pdu;
    }

    public static byte[] WriteSingleCoilRequest(ushort address, bool value)
    {
        var pdu = new byte[5];
        pdu[0] = (byte)ModbusFunction.WriteSingleCoil;
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(1), address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(3), value ? (ushort)0xFF00 : (ushort)0x0000);
        return pdu;
    }

    public static byte[] WriteSingleRegisterRequest(ushort address, ushort value)
    {
        var pdu = new byte[5];
        pdu[0] = (byte)ModbusFunction.WriteSingleRegister;
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(1), address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(3), value);
        return pdu;
    }

    public static byte[] WriteMultipleCoilsRequest(ushort address, IReadOnlyList<bool> values)
    {
        CheckRange(address, values.Count, ModbusLimits.MaxWriteBits);
        var packed = PackBits(values);
        var pdu = new byte[6 + packed.Length];
        pdu[0] = (byte)ModbusFunction.WriteMultipleCoils;
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(1), address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(3), (ushort)values.Count);
        pdu[5] = (byte)packed.Length;
        packed.CopyTo(pdu, 6);
        return pdu;
    }

    public static byte[] WriteMultipleRegistersRequest(ushort address, IReadOnlyList<ushort> values)
    {
        CheckRange(address, values.Count, ModbusLimits.MaxWriteRegisters);
        var pdu = new byte[6 + values.Count * 2];
        pdu[0] = (byte)ModbusFunction.WriteMultipleRegisters;
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(1), address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(3), (ushort)values.Count);
        pdu[5] = (byte)(values.Count * 2);
        for (var i = 0; i < values.Count; i++) BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(6 + i * 2), values[i]);
        return pdu;
    }

    static void CheckRange(int address, int quantity, int max)
    {
        if (quantity < 1 || quantity > max) throw new ArgumentOutOfRangeException(nameof(quantity), quantity, $"quantity must be 1..{max}");
        if (address + quantity > 65536) throw new ArgumentOutOfRangeException(nameof(address), address, $"address {address} + quantity {quantity} passes 65535");
    }

    // ---- responses (client side) ----

    /// <summary>Throws <see cref="ModbusException"/> for an exception response to <paramref name="function"/>, and <see cref="ModbusProtocolException"/> for a response to another function.</summary>
    public static void ThrowIfException(ReadOnlySpan<byte> response, byte function)
    {
        if (response.Length == 0) throw new ModbusProtocolException("empty PDU");
        if (response[0] == (function | 0x80))
        {
            if (response.Length != 2) throw new ModbusProtocolException($"exception response has {response.Length} bytes, expected 2");
            throw new ModbusException(function, (ModbusExceptionCode)response[1]);
        }
        if (response[0] != function) throw new ModbusProtocolException($"response function code {response[0]} does not match request {function}");
    }

    /// <summary>The bits of a response to FC 1 or 2.</summary>
    public static bool[] ParseBits(ReadOnlySpan<byte> response, ModbusFunction function, int quantity)
    {
        ThrowIfException(response, (byte)function);
        var expected = (quantity + 7) / 8;
        if (response.Length < 2 || response[1] != expected || response.Length != 2 + expected)
            throw new ModbusProtocolException($"bit response for {quantity} bits needs byte count {expected}, got {(response.Length < 2 ? "none" : response[1])} and {Math.Max(0, response.Length - 2)} data bytes");
        return UnpackBits(response.Slice(2, expected), quantity);
    }

    /// <summary>The registers of a response to FC 3 or 4.</summary>
    public static ushort[] ParseRegisters(ReadOnlySpan<byte> response, ModbusFunction function, int quantity)
    {
        ThrowIfException(response, (byte)function);
        if (response.Length < 2 || response[1] != quantity * 2 || response.Length != 2 + quantity * 2)
            throw new ModbusProtocolException($"register response for {quantity} registers needs byte count {quantity * 2}, got {(response.Length < 2 ? "none" : response[1])} and {Math.Max(0, response.Length - 2)} data bytes");
        var values = new ushort[quantity];
        for (var i = 0; i < quantity; i++) values[i] = BinaryPrimitives.ReadUInt16BigEndian(response[(2 + i * 2)..]);
        return values;
    }

    /// <summary>Checks the echo of a write (FC 5, 6, 15, 16): the first 5 bytes of the request come back.</summary>
    public static void ParseWriteEcho(ReadOnlySpan<byte> response, ReadOnlySpan<byte> request)
    {
        ThrowIfException(response, request[0]);
        if (response.Length != 5 || !response.SequenceEqual(request[..5]))
            throw new ModbusProtocolException($"write response {Convert.ToHexString(response)} does not echo the request {Convert.ToHexString(request[..5])}");
    }

    // ---- server side ----

    public static byte[] ExceptionResponse(byte function, ModbusExceptionCode code) => [(byte)(function | 0x80), (byte)code];

    public static byte[] BitsResponse(ModbusFunction function, IReadOnlyList<bool> values)
    {
        var packed = PackBits(values);
        var pdu = new byte[2 + packed.Length];
        pdu[0] = (byte)function;
        pdu[1] = (byte)packed.Length;
        packed.CopyTo(pdu, 2);
        return pdu;
    }

    public static byte[] RegistersResponse(ModbusFunction function, IReadOnlyList<ushort> values)
    {
        var pdu = new byte[2 + values.Count * 2];
        pdu[0] = (byte)function;
        pdu[1] = (byte)(values.Count * 2);
        for (var i = 0; i < values.Count; i++) BinaryPrimitives.WriteUInt16BigEndian(pdu.AsSpan(2 + i * 2), values[i]);
        return pdu;
    }

    // ---- bits ----

    /// <summary>Packs bits LSB first, eight to a byte, as Modbus sends them.</summary>
    public static byte[] PackBits(IReadOnlyList<bool> values)
    {
        var packed = new byte[(values.Count + 7) / 8];
        for (var i = 0; i < values.Count; i++) if (values[i]) packed[i / 8] |= (byte)(1 << (i % 8));
        return packed;
    }

    public static bool[] UnpackBits(ReadOnlySpan<byte> packed, int count)
    {
        var values = new bool[count];
        for (var i = 0; i < count; i++) values[i] = (packed[i / 8] & (1 << (i % 8))) != 0;
        return values;
    }
}
