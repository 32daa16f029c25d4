using System.Globalization;
using System.Text;
using FlowServer.Runtime;

namespace FlowServer.Api;

/// <summary>Per-node counters and the process's own figures in Prometheus' text format (served at <c>/metrics</c>).</summary>
public static class Metrics
{
    public static string Render(FlowRuntime runtime, RuntimeEvents events)
    {
        var text = new StringBuilder();
        var hosts = runtime.Hosts.Values.OrderBy(h => h.NodeId, StringComparer.Ordinal).ToList();
        // One sample line, labelled with the node it belongs to.
        void Sample(string name, NodeHost host, double value) =>
            text.Append(name).Append("{node=\"").Append(Escape(host.NodeId)).Append("\",type=\"").Append(Escape(host.NodeType))
                .Append("\",flow=\"").Append(Escape(host.FlowId ?? "")).Append("\"} ")
                .Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        void Family(string name, string help, string type, Func<NodeHost, double> value)
        {
            Header(text, name, help, type);
            foreach (var host in hosts) Sample(name, host, value(host));
        }
        Family("flowserver_node_messages_in_total", "Messages a node took from its inbox.", "counter", h => h.Received);
        Family("flowserver_node_messages_out_total", "Messages a node sent along its wires.", "counter", h => h.Sent);
        Family("flowserver_node_errors_total", "Errors raised by a node.", "counter", h => h.Errors);
        Family("flowserver_node_dropped_total", "Messages dropped at a node (overflow in a drop mode, or stop deadline).", "counter", h => h.Dropped);
        Family("flowserver_node_inbox_depth", "Messages waiting in a node's inbox.", "gauge", h => h.InboxDepth);
        Family("flowserver_node_processing_seconds_total", "Time a node spent processing messages (its own: the nodes it ran inline count for themselves).", "counter", h => h.ProcessingTime.TotalSeconds);
        // Figures nodes report themselves, one family per metric name.
        var own = hosts.Where(h => h.Node is FlowServer.Nodes.Sdk.IMetricsSource)
            .SelectMany(h => ((FlowServer.Nodes.Sdk.IMetricsSource)h.Node).Metrics.Select(m => (Host: h, Metric: m)))
            .GroupBy(x => x.Metric.Name, StringComparer.Ordinal);
        foreach (var family in own)
        {
            var first = family.First().Metric;
            Header(text, "flowserver_" + family.Key, first.Help, first.Type);
            foreach (var (host, metric) in family) Sample("flowserver_" + family.Key, host, metric.Value);
        }
        Unlabelled(text, "flowserver_events_dropped_total", "Live events (debug, status) dropped for slow observers.", "counter", events.DroppedEvents);
        AppendProcess(text);
        return text.ToString();
    }

    // The process as a whole: what an operator graphs beside the nodes' counters (memory over a
    // soak, CPU per message), and the garbage collector's pauses, which show in latency tails.
    static void AppendProcess(StringBuilder text)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        Unlabelled(text, "process_cpu_seconds_total", "CPU time the server used, user and system.", "counter", process.TotalProcessorTime.TotalSeconds);
        Unlabelled(text, "process_resident_memory_bytes", "Resident memory of the server.", "gauge", process.WorkingSet64);
        Header(text, "dotnet_gc_collections_total", "Garbage collections, by the generation collected.", "counter");
        // CollectionCount(n) includes the collections of higher generations; the label counts each once.
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            var only = GC.CollectionCount(generation) - (generation < GC.MaxGeneration ? GC.CollectionCount(generation + 1) : 0);
            text.Append("dotnet_gc_collections_total{generation=\"").Append(generation).Append("\"} ").Append(only).Append('\n');
        }
        Unlabelled(text, "dotnet_gc_pause_seconds_total", "Time the garbage collector held the server's threads.", "counter", GC.GetTotalPauseDuration().TotalSeconds);
        Unlabelled(text, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap.", "counter", GC.GetTotalAllocatedBytes());
        Unlabelled(text, "dotnet_gc_heap_bytes", "Managed heap size after the last collection.", "gauge", GC.GetGCMemoryInfo().HeapSizeBytes);
    }

    // A family of one sample without labels.
    static void Unlabelled(StringBuilder text, string name, string help, string type, double value) =>
        Header(text, name, help, type).Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    // The HELP and TYPE lines that open a metric family.
    static StringBuilder Header(StringBuilder text, string name, string help, string type) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
