import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` once the request is authenticated, and not before: a
/// request the server refuses (bad signature, unknown key, anonymous) gets its error while
/// the client still holds the body back, as RFC 9110 §10.1.1 intends and S3 does.
///
/// boto3 and the aws CLI send `Expect: 100-continue` on every PUT and wait up to a second
/// for it before sending the body. Hummingbird's responder API cannot write an interim
/// response, so the responder calls `sendContinue` (through `S3RequestContext`) after
/// authentication and this handler writes it in the pipeline. A final answer written while
/// the 100 is still owed means the body was never asked for: the answer says
/// `Connection: close` and the connection closes after it, because the client may or may
/// not send the body and the next request could not be told apart from it.
/// One instance per connection; every method runs on its event loop.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The current request asked for 100-continue and has had no answer yet.
    private var owesContinue = false
    /// The answer being written refused a body it never asked for: close after it.
    private var closeAfterAnswer = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            owesContinue = Self.asksToContinue(head.headerFields)
        }
        context.fireChannelRead(data)
    }

    /// `Expect: 100-continue` (case-insensitive).
    static func asksToContinue(_ headers: HTTPFields) -> Bool {
        guard let expect = headers.first(.expect) else { return false }
        return SigV4Encoding.equalsIgnoringASCIICase(expect, "100-continue")
    }

    /// The request passed authentication: let the client send its body.
    func sendContinue() {
        guard owesContinue, let context else { return }
        owesContinue = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where owesContinue && response.status.kind != .informational:
            owesContinue = false
            closeAfterAnswer = true
            response.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .end where closeAfterAnswer:
            closeAfterAnswer = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.writeAndFlush(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }
}

extension S3RequestContext {
    /// Sends the `100 Continue` the request asked for, if any, before the handler goes on:
    /// the interim answer is on the wire before any final one.
    func sendContinue(for request: Request) async {
        guard ExpectContinueHandler.asksToContinue(request.headers), let channel else { return }
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ExpectContinueHandler.self).sendContinue()
        }.get()
    }
}
