using FlowServer.Configuration;

return await FlowServerCommand.RunAsync(args);
