using System.Globalization;
using System.Text;
using FlowServer.Runtime;

namespace FlowServer.Api;

/// <summary>Per-node counters in Prometheus' text format (served at <c>/metrics</c>).</summary>
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
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
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
            text.Append("# HELP flowserver_").Append(family.Key).Append(' ').Append(first.Help).Append('\n');
            text.Append("# TYPE flowserver_").Append(family.Key).Append(' ').Append(first.Type).Append('\n');
            foreach (var (host, metric) in family) Sample("flowserver_" + family.Key, host, metric.Value);
        }
        text.Append("# HELP flowserver_events_dropped_total Live events (debug, status) dropped for slow observers.\n# TYPE flowserver_events_dropped_total counter\n");
        text.Append("flowserver_events_dropped_total ").Append(events.DroppedEvents).Append('\n');
        return text.ToString();
    }

    static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
