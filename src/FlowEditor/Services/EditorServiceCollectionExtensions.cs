using FlowServer.Editor.State;
using Microsoft.Extensions.DependencyInjection;

namespace FlowServer.Editor.Services;

public static class EditorServiceCollectionExtensions
{
    /// <summary>
    /// Registers the editor's per-session state. The host registers its <see cref="IEditorBackend"/>
    /// and Razor components with interactive server rendering.
    /// </summary>
    public static IServiceCollection AddFlowEditor(this IServiceCollection services)
    {
        services.AddScoped<FlowEditorState>();
        services.AddScoped<EditorSession>();
        return services;
    }
}
