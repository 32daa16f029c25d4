namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>
/// The four tables of a Modbus device, zero-based. Thread-safe. Reads and writes outside a
/// table throw <see cref="ModbusException"/> with <see cref="ModbusExceptionCode.IllegalDataAddress"/>,
/// which the server sends back as exception 2.
/// </summary>
public sealed class ModbusDataModel
{
    readonly object _gate = new();
    readonly bool[] _coils;
    readonly bool[] _discreteInputs;
    readonly ushort[] _holdingRegisters;
    readonly ushort[] _inputRegisters;

    public ModbusDataModel(int coils, int discreteInputs, int holdingRegisters, int inputRegisters)
    {
        _coils = new bool[Check(coils)];
        _discreteInputs = new bool[Check(discreteInputs)];
        _holdingRegisters = new ushort[Check(holdingRegisters)];
        _inputRegisters = new ushort[Check(inputRegisters)];
    }

    static int Check(int size) => size is >= 0 and <= 65536 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "a table holds 0..65536 entries");

    public int CoilCount => _coils.Length;
    public int DiscreteInputCount => _discreteInputs.Length;
    public int HoldingRegisterCount => _holdingRegisters.Length;
    public int InputRegisterCount => _inputRegisters.Length;

    public bool[] ReadCoils(int address, int count) => Read(_coils, address, count);
    public bool[] ReadDiscreteInputs(int address, int count) => Read(_discreteInputs, address, count);
    public ushort[] ReadHoldingRegisters(int address, int count) => Read(_holdingRegisters, address, count);
    public ushort[] ReadInputRegisters(int address, int count) => Read(_inputRegisters, address, count);

    public void WriteCoils(int address, IReadOnlyList<bool> values) => Write(_coils, address, values);
    public void WriteDiscreteInputs(int address, IReadOnlyList<bool> values) => Write(_discreteInputs, address, values);
    public void WriteHoldingRegisters(int address, IReadOnlyList<ushort> values) => Write(_holdingRegisters, address, values);
    public void WriteInputRegisters(int address, IReadOnlyList<ushort> values) => Write(_inputRegisters, address, values);

    T[] Read<T>(T[] table, int address, int count)
    {
        lock (_gate)
        {
            CheckRange(table.Length, address, count);
            return table.AsSpan(address, count).ToArray();
        }
    }

    void Write<T>(T[] table, int address, IReadOnlyList<T> values)
    {
        lock (_gate)
        {
            CheckRange(table.Length, address, values.Count);
            for (var i = 0; i < values.Count; i++) table[address + i] = values[i];
        }
    }

    static void CheckRange(int size, int address, int count)
    {
        if (address < 0 || count < 0 || address + count > size) throw new ModbusException(0, ModbusExceptionCode.IllegalDataAddress);
    }
}
