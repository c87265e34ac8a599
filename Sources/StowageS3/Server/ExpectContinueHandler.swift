import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request head arrives.
///
/// boto3 and the aws CLI send `Expect: 100-continue` on every PUT and wait up to a second
/// for it before sending the body. Hummingbird's responder API cannot write an interim
/// response, so this handler does it in the pipeline. Answering at once is allowed (RFC
/// 9110 §10.1.1) and keeps the connection in a known state: the body always follows, and a
/// request refused early (bad signature, missing bucket) has its body drained by
/// Hummingbird before the next request is read.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard case .head(var head) = part,
              let expect = head.headerFields[.expect], expect.lowercased() == "100-continue" else {
            context.fireChannelRead(data)
            return
        }
        head.headerFields[.expect] = nil
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
